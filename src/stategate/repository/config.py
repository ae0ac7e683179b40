"""Where backups live: the policy's ``evidence.repositories`` and ``evidence.encryption``.

A repository is a local folder or an S3 bucket and prefix. Credentials are never in
the policy: only the name of an environment variable, or the path of a file outside
the repo.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stategate.providers.config import Credential

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Repository(_Strict):
    name: str = Field(..., description="Name records and commands use (a-z, 0-9, - and _).")
    module: str | None = Field(
        None,
        description="The platform module whose server holds this repository (e.g. the backup "
        "reference module's minio): a backup of that module needs a copy elsewhere too.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a repository name is 1-63 of a-z, 0-9, - and _, starting alnum")
        return value


class LocalRepository(_Repository):
    type: Literal["local"] = "local"
    path: str | None = Field(
        None,
        description="Folder outside git (default: $STATEGATE_ARTIFACTS, else evidence.artifacts).",
    )


class S3Repository(_Repository):
    type: Literal["s3"] = "s3"
    endpoint: str = Field(..., description="S3 endpoint URL, e.g. https://s3.example.net.")
    bucket: str = Field(..., description="Bucket holding the backups.")
    prefix: str = Field("stategate", description="Key prefix inside the bucket.")
    region: str = "us-east-1"
    path_style: bool = Field(True, description="Path-style addressing (MinIO, SeaweedFS).")
    access_key: Credential = Field(..., description="Access key id reference.")
    secret_key: Credential = Field(..., description="Secret access key reference.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        parts = value.strip("/").split("/") if value.strip("/") else []
        if any(p in (".", "..") for p in parts) or "//" in value:
            raise ValueError("a prefix is plain key segments, no '.' or '..'")
        return "/".join(parts)


RepositoryConfig = Annotated[LocalRepository | S3Repository, Field(discriminator="type")]


class EncryptionSettings(_Strict):
    recipients_file: str = Field(
        ...,
        description="Repo file of the age recipients backups are encrypted to (age1... "
        "public keys, one per line).",
    )
    identity: Credential = Field(
        default_factory=lambda: Credential(env="STATEGATE_AGE_IDENTITY"),
        description="Where restores find an age identity (AGE-SECRET-KEY-1...): an "
        "environment variable or a file outside the repo.",
    )
