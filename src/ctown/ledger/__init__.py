"""Tamper-evident log (区块链存证): RFC 9162 Merkle tree, signed checkpoints, proofs."""
