"""Bucket settings through the S3 API (boto3): read them for a backup, set them again in
a sandbox. A setting the server does not implement is recorded as such, never a failure;
any other refusal (access denied) fails the backup naming the bucket and the setting.

IAM users, groups and policies of a MinIO server, and server configuration, are not part
of the S3 API (``mc admin cluster iam export`` and ``mc admin cluster bucket export``
hold them): nothing here reads or restores them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stategate.errors import ExternalError
from stategate.providers.s3_layout import (
    BucketSettings,
    Setting,
    canonical,
    canonical_policy,
    canonical_rules,
)

# what servers answer for a setting they do not implement
NOT_IMPLEMENTED = frozenset({"NotImplemented", "XNotImplemented", "NotSupported"})
# what they answer for a setting that is not set
NOT_SET: dict[Setting, frozenset[str]] = {
    "policy": frozenset({"NoSuchBucketPolicy"}),
    "lifecycle": frozenset({"NoSuchLifecycleConfiguration"}),
    "object-lock": frozenset(
        {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}
    ),
    "tags": frozenset({"NoSuchTagSet", "NoSuchTagSetError"}),
    "cors": frozenset({"NoSuchCORSConfiguration"}),
    "encryption": frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
    "versioning": frozenset(),
}

Error = Callable[[str, Exception], ExternalError]


def _code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def unsupported(exc: Exception) -> bool:
    """The server does not implement this request (501, NotImplemented)."""
    if not isinstance(exc, ClientError):
        return False
    code, status = _code(exc)
    return code in NOT_IMPLEMENTED or status == 501


def _json(value: object) -> object:
    """Plain JSON (datetimes of lifecycle rules as text)."""
    return json.loads(canonical(value))


def _versioning(client: Any, bucket: str) -> object:
    return client.get_bucket_versioning(Bucket=bucket).get("Status") or None


def _policy(client: Any, bucket: str) -> object:
    text = client.get_bucket_policy(Bucket=bucket).get("Policy")
    return canonical_policy(text) if text else None


def _lifecycle(client: Any, bucket: str) -> object:
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    return {"Rules": canonical_rules(list(rules))}


def _object_lock(client: Any, bucket: str) -> object:
    reply = client.get_object_lock_configuration(Bucket=bucket)
    return reply.get("ObjectLockConfiguration") or None


def _tags(client: Any, bucket: str) -> object:
    tags = client.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
    return {t["Key"]: t["Value"] for t in tags} or None


def _cors(client: Any, bucket: str) -> object:
    rules = client.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    return {"CORSRules": canonical_rules(list(rules))}


def _encryption(client: Any, bucket: str) -> object:
    reply = client.get_bucket_encryption(Bucket=bucket)
    return reply.get("ServerSideEncryptionConfiguration") or None


READERS: dict[Setting, Callable[[Any, str], object]] = {
    "versioning": _versioning,
    "policy": _policy,
    "lifecycle": _lifecycle,
    "object-lock": _object_lock,
    "tags": _tags,
    "cors": _cors,
    "encryption": _encryption,
}


def read_settings(
    client: Any, bucket: str, error: Error, unsupported_before: tuple[str, ...] = ()
) -> BucketSettings:
    """Every setting of ``bucket`` the server reports (see module doc).
    ``unsupported_before``: settings the backup's source did not support, so there is
    nothing to compare (a sandbox of that backup says the same of them, unread)."""
    values: dict[str, object] = {}
    refused: list[str] = [s for s in READERS if s in unsupported_before]
    for setting, read in READERS.items():
        if setting in refused:
            continue
        try:
            value = read(client, bucket)
        except ClientError as exc:
            if unsupported(exc):
                refused.append(setting)
                continue
            if _code(exc)[0] in NOT_SET[setting]:
                continue
            raise error(f"read the {setting} setting of bucket {bucket}", exc) from exc
        except BotoCoreError as exc:
            raise error(f"read the {setting} setting of bucket {bucket}", exc) from exc
        if value is not None:
            values[setting] = _json(value)
    versioning = str(values.pop("versioning", "") or "")
    return BucketSettings(bucket, versioning, values, tuple(refused))


def findings(settings: BucketSettings) -> list[str]:
    return [
        f"bucket {settings.bucket}: {s} not supported by this server: not backed up"
        for s in settings.unsupported
    ]


def create_bucket(client: Any, settings: BucketSettings, error: Error) -> None:
    """The bucket, object lock enabled at creation when the source had it, versioning
    on before any version is restored (set to Suspended again by :func:`finish`)."""
    bucket = settings.bucket
    args: dict[str, Any] = {"Bucket": bucket}
    if settings.object_lock:
        args["ObjectLockEnabledForBucket"] = True
    _apply(error, bucket, "bucket", lambda: client.create_bucket(**args))
    if settings.versioned:
        _apply(
            error,
            bucket,
            "versioning",
            lambda: client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        )


def finish(client: Any, settings: BucketSettings, error: Error) -> None:
    """The settings that must follow the objects (a lifecycle rule or a default retention
    would act on restored objects, a policy could refuse the restore's writes, a default
    encryption with a KMS key the sandbox does not have would too)."""
    bucket = settings.bucket
    values = settings.values
    encryption = values.get("encryption")
    if isinstance(encryption, dict):
        _apply(
            error,
            bucket,
            "encryption",
            lambda: client.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration=encryption
            ),
        )
    if settings.versioning == "Suspended":
        _apply(
            error,
            bucket,
            "versioning",
            lambda: client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
            ),
        )
    if "policy" in values:
        policy = values["policy"]
        text = policy if isinstance(policy, str) else json.dumps(policy)
        _apply(
            error, bucket, "policy", lambda: client.put_bucket_policy(Bucket=bucket, Policy=text)
        )
    if "lifecycle" in values:
        _apply(
            error,
            bucket,
            "lifecycle",
            lambda: client.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration=values["lifecycle"]
            ),
        )
    lock = values.get("object-lock")
    if isinstance(lock, dict) and "Rule" in lock:
        _apply(
            error,
            bucket,
            "object-lock",
            lambda: client.put_object_lock_configuration(
                Bucket=bucket, ObjectLockConfiguration=lock
            ),
        )
    tags = values.get("tags")
    if isinstance(tags, dict):
        tag_set = [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
        _apply(
            error,
            bucket,
            "tags",
            lambda: client.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set}),
        )
    if "cors" in values:
        _apply(
            error,
            bucket,
            "cors",
            lambda: client.put_bucket_cors(Bucket=bucket, CORSConfiguration=values["cors"]),
        )


def _apply(error: Error, bucket: str, what: str, call: Callable[[], object]) -> None:
    """One request to the sandbox; one the server does not implement is skipped (the
    sandbox's fingerprint then says so and the drill names the difference)."""
    try:
        call()
    except ClientError as exc:
        if unsupported(exc):
            return
        raise error(f"set {what} of sandbox bucket {bucket}", exc) from exc
    except BotoCoreError as exc:
        raise error(f"set {what} of sandbox bucket {bucket}", exc) from exc
