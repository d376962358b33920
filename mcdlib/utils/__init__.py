"""Small generic helpers shared by several parts of mcdlib (files, threads, versions)."""
