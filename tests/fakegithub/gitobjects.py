"""Git objects with real SHA-1s: blobs, trees and commits, hashed exactly like git.

The fake stores objects per repository the way git does, so a sha the bot computes locally (or
that a test computes with ``git hash-object``) is the sha the fake answers with.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field

MODE_FILE = "100644"
MODE_EXEC = "100755"
MODE_LINK = "120000"
MODE_TREE = "040000"  # GitHub's API spells it with the leading zero; git's raw format does not
BLOB_MODES = frozenset({MODE_FILE, MODE_EXEC, MODE_LINK})
EMPTY_TREE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def hash_object(kind: str, data: bytes) -> str:
    """The git object id of ``data`` stored as ``kind`` (blob/tree/commit)."""
    header = f"{kind} {len(data)}\0".encode()
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class TreeEntry:
    name: str
    mode: str
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


@dataclass(frozen=True)
class Signature:
    """An author or committer line: who, and when (epoch seconds, UTC)."""

    name: str
    email: str
    timestamp: int

    def raw(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} +0000"


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Signature
    committer: Signature
    author_login: str | None
    committer_login: str | None
    verified: bool
    reason: str
    seq: int  # creation order; breaks ties between commits made in the same second


def _tree_sort_key(entry: TreeEntry) -> bytes:
    # git orders tree entries by name, comparing a sub-tree as if its name ended with "/"
    name = entry.name.encode()
    return name + b"/" if entry.is_tree else name


def tree_bytes(entries: list[TreeEntry]) -> bytes:
    out = bytearray()
    for entry in sorted(entries, key=_tree_sort_key):
        mode = entry.mode.lstrip("0")
        out += f"{mode} {entry.name}\0".encode() + bytes.fromhex(entry.sha)
    return bytes(out)


def commit_bytes(
    tree: str, parents: tuple[str, ...], author: Signature, committer: Signature, message: str
) -> bytes:
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author.raw()}", f"committer {committer.raw()}", "", message]
    return "\n".join(lines).encode()


# A flattened tree: path -> (mode, blob sha). Tree manipulation happens on this form because the
# REST API speaks in full paths ("a/b/c.txt") while git stores nested trees.
FlatTree = dict[str, tuple[str, str]]


@dataclass
class ObjectStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, tuple[TreeEntry, ...]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    _seq: int = 0

    def put_blob(self, data: bytes) -> str:
        sha = hash_object("blob", data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, entries: list[TreeEntry]) -> str:
        sha = hash_object("tree", tree_bytes(entries))
        self.trees[sha] = tuple(sorted(entries, key=_tree_sort_key))
        return sha

    def put_commit(
        self,
        *,
        tree: str,
        parents: tuple[str, ...],
        message: str,
        author: Signature,
        committer: Signature,
        author_login: str | None,
        committer_login: str | None,
        verified: bool,
    ) -> Commit:
        sha = hash_object("commit", commit_bytes(tree, parents, author, committer, message))
        existing = self.commits.get(sha)
        if existing is not None:
            return existing
        self._seq += 1
        commit = Commit(
            sha=sha,
            tree=tree,
            parents=parents,
            message=message,
            author=author,
            committer=committer,
            author_login=author_login,
            committer_login=committer_login,
            verified=verified,
            reason="valid" if verified else "unsigned",
            seq=self._seq,
        )
        self.commits[sha] = commit
        return commit

    def kind_of(self, sha: str) -> str | None:
        if sha in self.blobs:
            return "blob"
        if sha in self.trees:
            return "tree"
        if sha in self.commits:
            return "commit"
        return None

    # --- flat <-> nested -------------------------------------------------------------------

    def flatten(self, tree_sha: str, prefix: str = "") -> FlatTree:
        flat: FlatTree = {}
        for entry in self.trees.get(tree_sha, ()):
            path = f"{prefix}{entry.name}"
            if entry.is_tree:
                flat.update(self.flatten(entry.sha, path + "/"))
            else:
                flat[path] = (entry.mode, entry.sha)
        return flat

    def build(self, flat: FlatTree) -> str:
        """Store the nested trees for ``flat`` and return the root tree sha."""
        files: dict[str, tuple[str, str]] = {}
        subdirs: dict[str, FlatTree] = {}
        for path, value in flat.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = value
            else:
                files[head] = value
        entries = [TreeEntry(name, mode, sha) for name, (mode, sha) in files.items()]
        entries += [TreeEntry(name, MODE_TREE, self.build(sub)) for name, sub in subdirs.items()]
        return self.put_tree(entries)

    def walk(self, tree_sha: str, prefix: str = "") -> list[tuple[str, TreeEntry]]:
        """Every entry (trees included) under ``tree_sha``, as GitHub's recursive tree lists it."""
        out: list[tuple[str, TreeEntry]] = []
        for entry in self.trees.get(tree_sha, ()):
            path = f"{prefix}{entry.name}"
            out.append((path, entry))
            if entry.is_tree:
                out.extend(self.walk(entry.sha, path + "/"))
        return out

    def lookup_path(self, tree_sha: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` (a file or a directory); the root itself for ``""``."""
        if path in ("", "/"):
            return TreeEntry("", MODE_TREE, tree_sha)
        current = TreeEntry("", MODE_TREE, tree_sha)
        for part in path.strip("/").split("/"):
            if not current.is_tree:
                return None
            found = next((e for e in self.trees.get(current.sha, ()) if e.name == part), None)
            if found is None:
                return None
            current = found
        return current

    # --- history ----------------------------------------------------------------------------

    def ancestors(self, sha: str) -> set[str]:
        """``sha`` and every commit reachable from it."""
        seen: set[str] = set()
        stack = [sha]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            stack.extend(self.commits[current].parents)
        return seen

    def log(self, sha: str) -> list[Commit]:
        """Reachable commits, newest first (git log's default date order)."""
        commits = [self.commits[s] for s in self.ancestors(sha)]
        return sorted(commits, key=lambda c: (c.committer.timestamp, c.seq), reverse=True)

    def merge_base(self, a: str, b: str) -> str | None:
        common = self.ancestors(a) & self.ancestors(b)
        if not common:
            return None
        # a parent always exists before its child, so the newest common ancestor cannot be an
        # ancestor of another common one: it is a best merge base (as git merge-base picks)
        return max(common, key=lambda s: self.commits[s].seq)

    def commits_between(self, base: str | None, head: str) -> list[Commit]:
        """Commits reachable from ``head`` but not from ``base``, oldest first."""
        excluded = self.ancestors(base) if base else set()
        picked = [self.commits[s] for s in self.ancestors(head) - excluded]
        return sorted(picked, key=lambda c: (c.committer.timestamp, c.seq))


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # added | removed | modified
    additions: int
    deletions: int
    patch: str | None  # None for binary content, like GitHub
    sha: str


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _patch(old: bytes, new: bytes) -> tuple[str | None, int, int]:
    old_text, new_text = _text(old), _text(new)
    if old_text is None or new_text is None:
        return None, 0, 0
    lines = list(
        difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), lineterm="", n=3)
    )
    body = lines[2:]  # GitHub's "patch" has only the hunks, not the ---/+++ header
    additions = sum(1 for line in body if line.startswith("+"))
    deletions = sum(1 for line in body if line.startswith("-"))
    return "\n".join(body), additions, deletions


def diff_trees(store: ObjectStore, old_tree: str | None, new_tree: str) -> list[FileChange]:
    old = store.flatten(old_tree) if old_tree else {}
    new = store.flatten(new_tree)
    changes: list[FileChange] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        old_data = store.blobs.get(before[1], b"") if before else b""
        new_data = store.blobs.get(after[1], b"") if after else b""
        patch, additions, deletions = _patch(old_data, new_data)
        status = "added" if before is None else "removed" if after is None else "modified"
        sha = (after or before)[1]  # type: ignore[index]
        changes.append(FileChange(path, status, additions, deletions, patch, sha))
    return changes


def three_way_merge(base: FlatTree, ours: FlatTree, theirs: FlatTree) -> FlatTree | None:
    """A file-level three-way merge; None when both sides changed the same path differently."""
    merged: FlatTree = {}
    for path in set(base) | set(ours) | set(theirs):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t:
            chosen = o
        elif o == b:
            chosen = t
        elif t == b:
            chosen = o
        else:
            return None
        if chosen is not None:
            merged[path] = chosen
    return merged
