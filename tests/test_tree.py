import collections
import inspect

import numpy as np
import pytest

from tangent2 import tree

Point = collections.namedtuple("Point", "x y")


def assert_same_tree(a, b):
    """Equal structure, and leaves equal in value, type, dtype and shape."""
    a_leaves, a_def = tree.flatten(a)
    b_leaves, b_def = tree.flatten(b)
    assert a_def == b_def
    for x, y in zip(a_leaves, b_leaves):
        assert type(x) is type(y)
        assert np.shape(x) == np.shape(y)
        assert np.result_type(x) == np.result_type(y)
        np.testing.assert_array_equal(x, y)


TREES = [
    1.5,
    np.arange(3.0),
    None,
    (),
    [],
    {},
    (1.0,),
    (1.0, [2.0, np.ones((2, 2))], {"b": 3, "a": (np.float32(4.0), None)}),
    Point(np.zeros(2), Point(1.0, [None, True])),
    {"layers": [{"w": np.ones((3, 2)), "b": np.zeros(3)}] * 2, "scale": np.float64(2.0)},
]


@pytest.mark.parametrize("t", TREES, ids=repr)
def test_flatten_unflatten_round_trip(t):
    leaves, treedef = tree.flatten(t)
    assert treedef.num_leaves == len(leaves)
    assert_same_tree(tree.unflatten(treedef, leaves), t)
    assert tree.leaves(t) == leaves
    assert tree.structure(t) == treedef


def test_leaf_order_and_container_types():
    t = (1.0, [2.0, {"b": 4.0, "a": 3.0}], Point(5.0, 6.0))
    leaves, treedef = tree.flatten(t)
    assert leaves == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    rebuilt = tree.unflatten(treedef, [10 * x for x in leaves])
    assert type(rebuilt) is tuple
    assert type(rebuilt[1]) is list
    assert type(rebuilt[2]) is Point
    assert rebuilt == (10.0, [20.0, {"a": 30.0, "b": 40.0}], Point(50.0, 60.0))


def test_none_is_an_empty_subtree():
    leaves, treedef = tree.flatten((None, 1.0, [None]))
    assert leaves == [1.0]
    assert treedef.num_leaves == 1
    assert tree.unflatten(treedef, [2.0]) == (None, 2.0, [None])


def test_dict_key_order_does_not_matter():
    a = {"x": 1.0, "y": np.zeros(2)}
    b = {"y": np.zeros(2), "x": 1.0}
    assert tree.structure(a) == tree.structure(b)
    assert hash(tree.structure(a)) == hash(tree.structure(b))
    assert tree.leaves(b)[0] == 1.0


def test_treedef_equality_and_hash():
    a = tree.structure((1.0, [np.zeros(3), {"k": 2}]))
    b = tree.structure((np.ones(5), [7, {"k": np.float32(1)}]))
    assert a == b and hash(a) == hash(b)
    assert {a: "cached"}[b] == "cached"
    different = [
        tree.structure((1.0, [np.zeros(3), {"j": 2}])),
        tree.structure((1.0, (np.zeros(3), {"k": 2}))),
        tree.structure([1.0, [np.zeros(3), {"k": 2}]]),
        tree.structure((1.0, [np.zeros(3), {"k": 2}], None)),
        tree.structure(Point(1.0, [np.zeros(3), {"k": 2}])),
    ]
    for other in different:
        assert a != other
    assert a != "not a treedef"


def test_namedtuple_classes_distinguish_structures():
    Other = collections.namedtuple("Other", "x y")
    assert tree.structure(Point(1.0, 2.0)) != tree.structure(Other(1.0, 2.0))
    assert tree.structure(Point(1.0, 2.0)) != tree.structure((1.0, 2.0))


def test_treedef_repr():
    t = (1.0, [2.0, None], {"b": 1, "a": 2}, Point(1.0, (2.0,)))
    assert repr(tree.structure(t)) == (
        "TreeDef((*, [*, None], {'a': *, 'b': *}, Point(x=*, y=(*,))))")
    assert repr(tree.structure(1.0)) == "TreeDef(*)"
    assert repr(tree.structure(None)) == "TreeDef(None)"


def test_is_leaf():
    for leaf in [1, 1.0, True, 1j, np.float32(1), np.int8(1), np.bool_(True), np.zeros(()),
                 np.ones((2, 3))]:
        assert tree.is_leaf(leaf)
    for node in [None, (), [1.0], {"a": 1.0}, Point(1, 2), "text", object()]:
        assert not tree.is_leaf(node)


def test_flatten_rejects_non_trees():
    with pytest.raises(TypeError, match="str is not a tree"):
        tree.flatten((1.0, "text"))
    with pytest.raises(TypeError, match="set is not a tree"):
        tree.flatten({1.0})
    with pytest.raises(TypeError, match="sortable"):
        tree.flatten({1: 1.0, "a": 2.0})


def test_unflatten_checks_the_number_of_leaves():
    treedef = tree.structure((1.0, 2.0))
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        tree.unflatten(treedef, [1.0, 2.0, 3.0])


def test_tree_map():
    a = {"w": np.ones(2), "b": (1.0, 2.0)}
    b = {"w": np.full(2, 3.0), "b": (10.0, 20.0)}
    out = tree.tree_map(lambda x, y: x + y, a, b)
    assert out["b"] == (11.0, 22.0)
    np.testing.assert_array_equal(out["w"], [4.0, 4.0])
    assert tree.tree_map(lambda x: x, None) is None


def test_tree_map_mismatch_names_both_structures():
    with pytest.raises(ValueError) as info:
        tree.tree_map(lambda x, y: x, (1.0, [2.0]), (1.0, (2.0,)))
    message = str(info.value)
    assert "(*, [*])" in message and "(*, (*,))" in message


def test_zeros_like_dtypes():
    t = (np.ones(2, np.float32), np.arange(3), 2.0, 3, True, np.float32(1), np.int64(1),
         np.ones((), np.complex64), 1j)
    z = tree.zeros_like(t)
    expected = (np.zeros(2, np.float32), np.zeros(3), 0.0, 0.0, 0.0, np.float32(0),
                np.float64(0), np.zeros((), np.complex64), 0j)
    assert_same_tree(z, expected)
    assert tree.zeros_like(None) is None


def test_ravel_mixed_float32_arrays_and_scalars():
    t = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(7.0),
         "c": (np.array(8.0, np.float32), 9.0), "d": None}
    flat, unravel = tree.ravel(t)
    assert flat.dtype == np.float32
    np.testing.assert_array_equal(flat, [7, 8, 9, 0, 1, 2, 3, 4, 5])
    assert_same_tree(unravel(flat), t)
    doubled = unravel(2 * flat)
    assert type(doubled["c"][1]) is float and doubled["c"][1] == 18.0
    assert doubled["w"].dtype == np.float32


def test_ravel_promotes_to_a_common_float_dtype():
    t = (np.ones(2, np.float32), np.arange(2), np.float64(3.0), 4, True)
    flat, unravel = tree.ravel(t)
    assert flat.dtype == np.float64
    np.testing.assert_array_equal(flat, [1, 1, 0, 1, 3, 4, 1])
    assert_same_tree(unravel(flat), t)
    assert tree.ravel([1, 2])[0].dtype == np.float64
    assert tree.ravel([np.float32(1.0), 1j])[0].dtype == np.complex64


def test_ravel_of_empty_trees():
    for t in [None, (), {"a": []}]:
        flat, unravel = tree.ravel(t)
        assert flat.shape == (0,) and flat.dtype == np.float64
        assert unravel(flat) == t


def test_ravel_zero_size_and_zero_dim_leaves():
    t = [np.zeros((2, 0)), np.array(3.0), np.ones(1)]
    flat, unravel = tree.ravel(t)
    assert flat.shape == (2,)
    assert_same_tree(unravel(flat), t)


def test_ravel_copies_and_unravel_returns_views():
    x = np.ones(3)
    flat, unravel = tree.ravel((x,))
    flat[0] = 5.0
    assert x[0] == 1.0
    assert np.shares_memory(unravel(flat)[0], flat)


def test_unravel_is_readable_plain_python():
    t = {"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32),
         "p": Point(np.float32(1.0), 2.0)}
    _, unravel = tree.ravel(t)
    assert inspect.getsource(unravel) == (
        "def unravel(flat):\n"
        "    return {\n"
        "        'b': flat[0:3],\n"
        "        'p': Point(\n"
        "            x=flat[3],\n"
        "            y=float(flat[4]),\n"
        "        ),\n"
        "        'w': flat[5:11].reshape((2, 3)),\n"
        "    }\n")
    assert unravel.__globals__["Point"] is Point


def test_unravel_casts_leaves_to_their_dtypes():
    t = (np.ones(2, np.float32), np.float32(2.0), np.zeros(2))
    flat, unravel = tree.ravel(t)
    source = inspect.getsource(unravel)
    assert "flat[0:2].astype(np.float32)" in source
    assert "np.float32(flat[2])" in source
    assert_same_tree(unravel(flat), t)


def test_unravel_is_cached_per_structure_shapes_and_dtypes():
    _, a = tree.ravel({"x": np.ones(2), "y": 1.0})
    _, b = tree.ravel({"y": 5.0, "x": np.zeros(2)})
    _, c = tree.ravel({"x": np.ones(3), "y": 1.0})
    assert a is b
    assert a is not c


def test_unravel_names_do_not_clash():
    np_ = collections.namedtuple("np", "a")
    flat_ = collections.namedtuple("flat", "a")
    other_point = collections.namedtuple("Point", "a")
    t = (np_(1.0), flat_(np.ones(2)), Point(1.0, 2.0), other_point(3.0), {(1, "k"): 4.0})
    flat, unravel = tree.ravel(t)
    assert_same_tree(unravel(flat), t)
