"""Bottom utilities with no dependency on the rest of the package: the version, the file cache, content hashing."""
