"""Evidence providers: postgres, redis, s3, volume (one Protocol, one registry).

``providers.base.Provider`` is the contract, ``providers.registry.PROVIDERS``
the explicit map from a policy's provider name to its implementation.
"""
