"""The evidence jobs: backup, restore drill, smoke run. Each returns the record it wrote."""
