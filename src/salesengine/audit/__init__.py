"""The audit chain read back: verification of a store, signed checkpoints, keys and the
export an outside auditor verifies with ``salesengine.audit_verifier`` (docs/audit.md).

The chain itself is written by the store's recorders (``store.chain_table``)."""
