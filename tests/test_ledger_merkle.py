"""RFC 9162 Merkle tree: the reference vectors of transparency-dev/merkle (the 8-leaf tree of
certificate-transparency-go), the RFC's recursive definitions, and corrupted proofs."""

from __future__ import annotations

import pytest

from ctown.ledger import merkle
from ctown.ledger.merkle import SHA256, MemoryTree, get_hasher

# transparency-dev/merkle proof/verify_test.go (leaves, roots of sizes 1..8, known proofs)
LEAVES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
H = {k: bytes.fromhex(v) for k, v in {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}.items()}
# (leaf, 1-based as in the Go vectors; tree size; proof)
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["bc1a", "ca85", "d37e"]),
    (3, 3, ["fac5"]),
    (2, 5, ["6e34", "5f08", "bc1a"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["0ebc", "ca85", "d37e"]),
    (2, 5, ["5f08", "bc1a"]),
    (6, 7, ["0ebc", "b086", "d37e"]),
]
EMPTY = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SOME = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def tree8() -> MemoryTree:
    tree = MemoryTree()
    tree.extend(LEAVES)
    return tree


def test_roots_of_the_reference_tree(tree8: MemoryTree) -> None:
    assert tree8.root(0) == EMPTY == SHA256.empty()
    for size in range(1, 9):
        assert tree8.root(size) == ROOTS[size - 1]
        assert merkle.reference_root(SHA256, LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "names"), INCLUSION)
def test_inclusion_vectors(tree8: MemoryTree, leaf: int, size: int, names: list[str]) -> None:
    proof = [H[n] for n in names]
    assert tree8.inclusion_proof(leaf - 1, size) == proof
    leaf_hash = SHA256.leaf(LEAVES[leaf - 1])
    assert merkle.verify_inclusion(SHA256, leaf - 1, size, leaf_hash, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "names"), CONSISTENCY)
def test_consistency_vectors(tree8: MemoryTree, size1: int, size2: int, names: list[str]) -> None:
    proof = [H[n] for n in names]
    if size1 < size2:
        assert tree8.consistency_proof(size1, size2) == proof
    assert merkle.verify_consistency(SHA256, size1, size2, proof, ROOTS[size1 - 1],
                                     ROOTS[size2 - 1])


def _corrupt_inclusion(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):
    probes = [(index - 1, size, root, leaf, proof), (index + 1, size, root, leaf, proof),
              (index ^ 2, size, root, leaf, proof), (index, size * 2, root, leaf, proof),
              (index, size // 2, root, leaf, proof), (index, size, root, b"WrongLeaf", proof),
              (index, size, EMPTY, leaf, proof), (index, size, SOME, leaf, proof),
              (index, size, root, leaf, [*proof, b""]), (index, size, root, leaf, [*proof, root]),
              (index, size, root, leaf, [b"", *proof]), (index, size, root, leaf, [root, *proof])]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, root, leaf, bad))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("leaf", "size", "names"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(leaf: int, size: int, names: list[str]) -> None:
    proof, root, leaf_hash = [H[n] for n in names], ROOTS[size - 1], SHA256.leaf(LEAVES[leaf - 1])
    for idx, sz, rt, lh, pr in _corrupt_inclusion(leaf - 1, size, proof, root, leaf_hash):
        assert not merkle.verify_inclusion(SHA256, idx, sz, lh, pr, rt), (idx, sz, len(pr))


@pytest.mark.parametrize(("size1", "size2", "names"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(size1: int, size2: int, names: list[str]) -> None:
    proof, r1, r2 = [H[n] for n in names], ROOTS[size1 - 1], ROOTS[size2 - 1]
    probes = [(size1 - 1, size2, r1, r2, proof), (size1 + 1, size2, r1, r2, proof),
              (size1 ^ 2, size2, r1, r2, proof), (size1, size2 * 2, r1, r2, proof),
              (size1, size2 // 2, r1, r2, proof), (size1, size2, b"WrongRoot", r2, proof),
              (size1, size2, r1, b"WrongRoot", proof), (size1, size2, r2, r1, proof),
              (size1, size2, r1, r2, []), (size1, size2, r1, r2, [*proof, b""]),
              (size1, size2, r1, r2, [*proof, r1]), (size1, size2, r1, r2, [*proof, r2]),
              (size1, size2, r1, r2, [b"", *proof]), (size1, size2, r1, r2, [r1, *proof]),
              (size1, size2, r1, r2, [r2, *proof]), (size1, size2, r1, r2, [proof[0], *proof]),
              (size1, size2, r1, r2, proof[:-1])]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((size1, size2, r1, r2, bad))
    for s1, s2, a, b, pr in probes:
        assert not merkle.verify_consistency(SHA256, s1, s2, pr, a, b), (s1, s2, len(pr))


R1, R2 = SHA256.leaf(b"one"), SHA256.leaf(b"two")  # two well-formed, different roots


#: The edge policy of docs/ledger.md (transparency-dev/merkle's verifier): hashes of the wrong
#: length are refused everywhere; equal sizes need an empty proof and equal roots; a proof from
#: the empty tree to a larger one is refused, whatever it holds.
@pytest.mark.parametrize(("size1", "size2", "root1", "root2", "proof", "valid"), [
    (0, 0, R1, R2, [], False), (1, 1, R1, R2, [], False),
    (0, 0, EMPTY, EMPTY, [], True), (1, 1, R2, R2, [], True),
    (0, 1, EMPTY, R2, [], False), (0, 5, EMPTY, R2, [R1], False),
    (1, 0, R1, R2, [], False), (2, 1, R1, R2, [], False), (1, 2, R1, R2, [], False),
    (0, 0, EMPTY, EMPTY, [EMPTY], False), (0, 1, EMPTY, EMPTY, [EMPTY], False),
    (1, 1, EMPTY, EMPTY, [EMPTY], False),
    (0, 0, b"r1", b"r1", [], False), (1, 1, b"r2", b"r2", [], False),
    (0, 1, b"r", R2, [], False), (3, 3, R1 + b"x", R1 + b"x", [], False),
])
def test_consistency_edge_cases(size1: int, size2: int, root1: bytes, root2: bytes,
                                proof: list[bytes], valid: bool) -> None:
    assert merkle.verify_consistency(SHA256, size1, size2, proof, root1, root2) is valid


def test_inclusion_out_of_range_is_invalid() -> None:
    for index, size in ((0, 0), (1, 0), (2, 1), (2**64 - 1, 8), (-1, 8)):
        assert not merkle.verify_inclusion(SHA256, index, size, SOME, [], EMPTY)


# -- the fast paths agree with the RFC's recursive definitions for every small tree --------------
def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = merkle.split_point(n)
    if m < k:
        return [*_path(m, leaves[:k]), merkle.reference_root(SHA256, leaves[k:])]
    return [*_path(m - k, leaves[k:]), merkle.reference_root(SHA256, leaves[:k])]


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [merkle.reference_root(SHA256, leaves)]
    k = merkle.split_point(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], b), merkle.reference_root(SHA256, leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), merkle.reference_root(SHA256, leaves[:k])]


def test_every_proof_of_small_trees_matches_the_rfc_definition() -> None:
    leaves = [b"leaf %d" % i for i in range(37)]
    tree = MemoryTree()
    tree.extend(leaves)
    for n in range(1, len(leaves) + 1):
        root = tree.root(n)
        assert root == merkle.reference_root(SHA256, leaves[:n])
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == _path(m, leaves[:n])
            assert merkle.verify_inclusion(SHA256, m, n, SHA256.leaf(leaves[m]), proof, root)
        for m in range(1, n):
            proof = tree.consistency_proof(m, n)
            assert proof == _subproof(m, leaves[:n], True)
            assert merkle.verify_consistency(SHA256, m, n, proof, tree.root(m), root)


def test_frontier_appends_store_the_same_nodes_as_the_level_tree() -> None:
    hashes = [SHA256.leaf(b"%d" % i) for i in range(100)]
    tree = MemoryTree()
    tree.extend_hashes(hashes)
    frontier: list[bytes] = []
    nodes = merkle.append_leaves(SHA256, frontier, 0, hashes[:37])
    nodes += merkle.append_leaves(SHA256, frontier, 37, hashes[37:])
    for i, blob in enumerate(nodes):
        for level in range(1, len(blob) // 32 + 1):
            row, lvl = merkle.node_row((level, i >> level))
            assert (row, lvl) == (i, level)
            assert blob[(level - 1) * 32: level * 32] == tree.levels[level][i >> level]
    assert frontier == [tree.get_nodes([k])[k] for k in merkle.frontier_keys(100)]


def test_sm3_suite() -> None:
    sm3 = get_hasher("sm3")
    # GB/T 32905-2016 example 1: SM3("abc")
    assert sm3.digest(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert merkle._CryptographySM3(b"abc").digest() == sm3.digest(b"abc")
    tree = MemoryTree(sm3)
    tree.extend(LEAVES)
    assert tree.root() != ROOTS[7]
    proof = tree.inclusion_proof(5, 8)
    assert merkle.verify_inclusion(sm3, 5, 8, sm3.leaf(LEAVES[5]), proof, tree.root())
    assert not merkle.verify_inclusion(SHA256, 5, 8, SHA256.leaf(LEAVES[5]), proof, tree.root())
    with pytest.raises(ValueError):
        get_hasher("md5")
