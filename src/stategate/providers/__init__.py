"""Evidence providers: postgres, redis, s3, volume (one Protocol, one registry)."""
