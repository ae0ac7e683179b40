"""Evidence: artifacts on disk, in-toto records in the platform repo, and finding them."""
