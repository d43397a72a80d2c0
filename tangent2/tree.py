"""Pytrees: nested tuples, lists, dicts and namedtuples of scalars and arrays.

A tree node is a tuple, list, dict, namedtuple or ``None`` (an empty subtree).
A leaf is a Python or NumPy scalar or a NumPy array.  Dict children are
ordered by sorted key, so equal dicts built in different orders have the same
structure.
"""
import ast
import functools
import hashlib
import linecache

import numpy as np

_SCALAR_TYPES = (bool, int, float, complex, np.number, np.bool_)


def is_leaf(x):
    """Whether ``x`` is a leaf: a Python or NumPy scalar, or a NumPy array."""
    return isinstance(x, (np.ndarray,) + _SCALAR_TYPES)


class TreeDef:
    """The structure of a tree, without its leaves; hashable, so usable as a cache key.

    ``kind`` is one of ``"leaf"``, ``"none"``, ``"tuple"``, ``"list"``, ``"dict"``
    and ``"namedtuple"``; ``meta`` is the sorted dict keys or the namedtuple class.
    """

    __slots__ = ("kind", "meta", "children", "num_leaves", "_hash")

    def __init__(self, kind, meta=None, children=()):
        self.kind = kind
        self.meta = meta
        self.children = tuple(children)
        if kind == "leaf":
            self.num_leaves = 1
        else:
            self.num_leaves = sum(child.num_leaves for child in self.children)
        self._hash = hash((kind, meta, self.children))

    def __eq__(self, other):
        if not isinstance(other, TreeDef):
            return NotImplemented
        return (self._hash == other._hash and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"TreeDef({self})"

    def __str__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        items = [str(child) for child in self.children]
        if self.kind == "tuple":
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if self.kind == "list":
            return f"[{', '.join(items)}]"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(self.meta, items)) + "}"
        fields = ", ".join(f"{k}={v}" for k, v in zip(self.meta._fields, items))
        return f"{self.meta.__name__}({fields})"


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


def flatten(tree):
    """``(leaves, treedef)``: the leaves of ``tree`` in order, and its structure."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(x, leaves):
    if x is None:
        return _NONE
    if is_leaf(x):
        leaves.append(x)
        return _LEAF
    kind = type(x)
    if kind is tuple or kind is list:
        return TreeDef(kind.__name__, None, [_flatten(c, leaves) for c in x])
    if kind is dict:
        keys = _sorted_keys(x)
        return TreeDef("dict", keys, [_flatten(x[k], leaves) for k in keys])
    if isinstance(x, tuple) and hasattr(kind, "_fields"):
        return TreeDef("namedtuple", kind, [_flatten(c, leaves) for c in x])
    raise TypeError(
        f"{kind.__name__} is not a tree: expected a scalar, a NumPy array, "
        "or a tuple, list, dict, namedtuple or None of them")


def _sorted_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:
        raise TypeError(f"dict keys must be sortable, got {list(d)!r}") from None


def unflatten(treedef, leaves):
    """The tree with structure ``treedef`` and the given leaves (in flatten order)."""
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"{treedef!r} has {treedef.num_leaves} leaves, got {len(leaves)}")
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef, leaves):
    kind = treedef.kind
    if kind == "leaf":
        return next(leaves)
    if kind == "none":
        return None
    children = [_unflatten(child, leaves) for child in treedef.children]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    if kind == "dict":
        return dict(zip(treedef.meta, children))
    return treedef.meta(*children)


def leaves(tree):
    """The leaves of ``tree``, in flatten order."""
    return flatten(tree)[0]


def structure(tree):
    """The ``TreeDef`` of ``tree``."""
    return flatten(tree)[1]


def tree_map(fn, tree, *rest):
    """Apply ``fn`` leafwise to ``tree`` and the trees in ``rest``, which share its structure."""
    tree_leaves, treedef = flatten(tree)
    all_leaves = [tree_leaves]
    for other in rest:
        other_leaves, other_def = flatten(other)
        if other_def != treedef:
            raise ValueError(f"tree structures differ: {treedef} and {other_def}")
        all_leaves.append(other_leaves)
    return unflatten(treedef, [fn(*xs) for xs in zip(*all_leaves)])


def zeros_like(tree):
    """Floating zeros shaped like ``tree``: float32 stays float32, integers become float64."""
    return tree_map(_zero, tree)


def _zero(x):
    if isinstance(x, (np.ndarray, np.generic)):
        dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.dtype(np.float64)
        if isinstance(x, np.ndarray):
            return np.zeros(x.shape, dtype)
        return dtype.type(0)
    return 0j if isinstance(x, complex) else 0.0


def ravel(tree):
    """``(flat, unravel)``: the leaves of ``tree`` concatenated into one 1-D array, and its inverse.

    ``flat`` has the common floating dtype of the array and NumPy-scalar leaves
    (Python scalars do not promote it: float32 leaves and a Python float give
    float32).  ``unravel(flat)`` rebuilds the tree with the original shapes,
    dtypes and scalar types; its leaves are views of ``flat`` where the dtype
    allows.  ``unravel`` is a generated plain Python function of slices and
    reshapes, with readable source (``inspect.getsource`` works), so it can be
    differentiated and compiled.
    """
    tree_leaves, treedef = flatten(tree)
    dtype = _flat_dtype(tree_leaves)
    if tree_leaves:
        flat = np.concatenate([np.ravel(x) for x in tree_leaves], dtype=dtype)
    else:
        flat = np.zeros(0, dtype)
    specs = tuple(_leaf_spec(x) for x in tree_leaves)
    return flat, _make_unravel(treedef, specs, dtype)


def _flat_dtype(tree_leaves):
    strong = [x.dtype for x in tree_leaves if isinstance(x, (np.ndarray, np.generic))]
    dtype = functools.reduce(np.promote_types, strong, np.dtype(np.bool_))
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(np.float64)
    if any(isinstance(x, complex) for x in tree_leaves):
        dtype = np.result_type(dtype, np.complex64)
    return dtype


def _leaf_spec(x):
    """``(kind, shape, dtype)``: kind is "array", "numpy" (a NumPy scalar) or a Python type."""
    if isinstance(x, np.ndarray):
        return "array", x.shape, x.dtype
    if isinstance(x, np.generic):
        return "numpy", (), x.dtype
    return type(x), (), None


@functools.lru_cache(maxsize=256)
def _make_unravel(treedef, specs, dtype):
    names = _Namespace()
    exprs = iter(_leaf_expressions(specs, dtype, names))
    body = _tree_expression(treedef, exprs, names, "    ")
    source = f"def unravel(flat):\n    return {body}\n"
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<tangent2.tree.unravel {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), names.globals)
    return names.globals["unravel"]


def _leaf_expressions(specs, dtype, names):
    start = 0
    for kind, shape, leaf_dtype in specs:
        size = int(np.prod(shape, dtype=np.int64))
        stop = start + size
        if kind == "array":
            expr = f"flat[{start}:{stop}]"
            if len(shape) != 1:
                expr += f".reshape({shape!r})"
            if leaf_dtype != dtype:
                expr += f".astype({names.dtype(leaf_dtype)})"
        elif kind == "numpy":
            expr = f"flat[{start}]"
            if leaf_dtype != dtype:
                expr = f"{names.dtype(leaf_dtype)}({expr})"
        else:
            expr = f"{kind.__name__}(flat[{start}])"
        yield expr
        start = stop


def _tree_expression(treedef, exprs, names, indent):
    """Python source for a literal that builds ``treedef`` from the leaf expressions."""
    kind = treedef.kind
    if kind == "leaf":
        return next(exprs)
    if kind == "none":
        return "None"
    inner = indent + "    "
    items = [_tree_expression(child, exprs, names, inner) for child in treedef.children]
    if kind == "dict":
        items = [f"{names.literal(k)}: {v}" for k, v in zip(treedef.meta, items)]
        open_, close = "{", "}"
    elif kind == "namedtuple":
        items = [f"{k}={v}" for k, v in zip(treedef.meta._fields, items)]
        open_, close = names.bind(treedef.meta, treedef.meta.__name__) + "(", ")"
    else:
        open_, close = ("(", ")") if kind == "tuple" else ("[", "]")
    if not items:
        return open_ + close
    lines = "".join(f"{inner}{item},\n" for item in items)
    return f"{open_}\n{lines}{indent}{close}"


class _Namespace:
    """The globals of a generated function: each object bound to a readable, unique name."""

    _RESERVED = frozenset({"flat", "unravel", "float", "int", "bool", "complex"})

    def __init__(self):
        self.globals = {"np": np}

    def bind(self, obj, name):
        candidate, n = name, 1
        while candidate in self._RESERVED or self.globals.get(candidate, obj) is not obj:
            n += 1
            candidate = f"{name}_{n}"
        self.globals[candidate] = obj
        return candidate

    def dtype(self, dtype):
        """An expression for the scalar type of ``dtype``: ``np.float32`` where it exists."""
        if getattr(np, dtype.name, None) is dtype.type:
            return f"np.{dtype.name}"
        return self.bind(dtype.type, "_" + dtype.name)

    def literal(self, value):
        """``repr(value)`` where it evaluates back to ``value``, else a bound name."""
        try:
            if ast.literal_eval(repr(value)) == value:
                return repr(value)
        except (ValueError, SyntaxError):
            pass
        return self.bind(value, "_key")
