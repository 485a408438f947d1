class StorageError(Exception):
    """A storage problem a user can fix (bad URL, unreachable database, unknown study)."""
