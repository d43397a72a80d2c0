"""Tuples, lists, dicts and namedtuples rebound in a runtime loop with the same structure each iteration.

The loop body is normalized once; such a tree is carried from one iteration to the next as one variable per
leaf (tangent2/frontend/normalize.py, _carry_statics).  The pattern this is for: a few steps of gradient
descent inside the function (MAML, meta-learning), differentiated again.  Every derivative is checked
against finite differences and against an independent value: the same loop unrolled by hand, or forward
mode against reverse mode.
"""
import collections

import numpy as np
import pytest

import tangent2 as tg
from tangent2.errors import UnsupportedSyntax
from tangent2.testing import numerical_grad

X = np.array([-0.9, -0.2, 0.4, 1.1])
W = np.array([0.3, -0.2, 0.5, 0.1])
LR = 0.3


def loss(params, x):
    w, b = params
    return np.sum(np.tanh(w * x + b) ** 2) + 0.5 * b * b


def adapted_loss_loop(params, x):
    for i in range(3):
        g = tg.grad(loss)(params, x)
        params = tuple(p - LR * gi for p, gi in zip(params, g))
    return loss(params, x * 0.5)


def adapted_loss_unrolled(params, x):
    g = tg.grad(loss)(params, x)
    params = tuple(p - LR * gi for p, gi in zip(params, g))
    g = tg.grad(loss)(params, x)
    params = tuple(p - LR * gi for p, gi in zip(params, g))
    g = tg.grad(loss)(params, x)
    params = tuple(p - LR * gi for p, gi in zip(params, g))
    return loss(params, x * 0.5)


def _flat(tree):
    leaves = [tree[k] for k in sorted(tree)] if isinstance(tree, dict) else tree
    return np.concatenate([np.ravel(leaf) for leaf in leaves])


def test_meta_gradient_of_gradient_steps_in_a_loop():
    """d/dparams of the loss after three gradient steps: second order through the loop."""
    params = (W, 0.2)
    meta = tg.grad(adapted_loss_loop)(params, X)
    np.testing.assert_allclose(_flat(meta), _flat(numerical_grad(adapted_loss_loop, (params, X))),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(_flat(meta), _flat(tg.grad(adapted_loss_unrolled)(params, X)), rtol=1e-10)
    np.testing.assert_allclose(adapted_loss_loop(params, X), adapted_loss_unrolled(params, X))


def test_meta_gradient_forward_mode_agrees_with_reverse():
    params = (W, 0.2)
    meta = tg.grad(adapted_loss_loop)(params, X)
    direction = (np.array([0.5, -1.0, 0.25, 2.0]), -0.7)
    _, derivative = tg.jvp(adapted_loss_loop, (params, X), (direction, np.zeros(4)))
    np.testing.assert_allclose(derivative, np.dot(_flat(meta), _flat(direction)), rtol=1e-10)


def dict_loss(params, x):
    return np.sum(np.tanh(params["w"] * x + params["b"]) ** 2) + 0.5 * params["b"] ** 2


def adapted_dict_loss(params, x, steps):
    for i in range(steps):
        g = tg.grad(dict_loss)(params, x)
        params = {k: params[k] - LR * g[k] for k in params}
    return dict_loss(params, x * 0.5)


def test_dicts_carried_through_a_loop_with_a_run_time_count():
    params = {"w": W, "b": 0.2}
    meta = tg.grad(adapted_dict_loss)(params, X, 3)
    assert sorted(meta) == ["b", "w"]
    np.testing.assert_allclose(_flat(meta), _flat(numerical_grad(adapted_dict_loss, (params, X, 3))),
                               rtol=1e-6, atol=1e-8)
    # the same steps on a tuple, unrolled by hand
    unrolled = tg.grad(adapted_loss_unrolled)((W, 0.2), X)
    np.testing.assert_allclose(meta["w"], unrolled[0], rtol=1e-10)
    np.testing.assert_allclose(meta["b"], unrolled[1], rtol=1e-10)
    # no step at all: the loss itself
    np.testing.assert_allclose(_flat(tg.grad(adapted_dict_loss)(params, X, 0)),
                               _flat(tg.grad(dict_loss)(params, X * 0.5)), rtol=1e-12)


State = collections.namedtuple("State", ["position", "velocity"])


def heavy_ball(x, steps):
    state = State(x, np.zeros_like(x))
    t = 0
    while t < steps:
        force = -np.sin(state.position)
        state = State(state.position + 0.1 * state.velocity, 0.9 * state.velocity + 0.1 * force)
        t = t + 1
    return np.sum(state.position ** 2) + np.sum(state.velocity)


def heavy_ball_by_hand(x, steps):
    position, velocity = x, np.zeros_like(x)
    for t in range(steps):
        position, velocity = position + 0.1 * velocity, 0.9 * velocity - 0.1 * np.sin(position)
    return np.sum(position ** 2) + np.sum(velocity)


def test_namedtuple_carried_through_a_while_loop():
    gradient = tg.grad(heavy_ball)(X, 4)
    np.testing.assert_allclose(gradient, numerical_grad(heavy_ball, (X, 4)), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gradient, tg.grad(heavy_ball_by_hand)(X, 4), rtol=1e-12)
    _, derivative = tg.jvp(heavy_ball, (X, 4), (np.ones(4), 0))
    np.testing.assert_allclose(derivative, np.sum(gradient), rtol=1e-10)


def rotates_a_tuple(x, n):
    t = (x, 2.0 * x, np.sin(x))
    for i in range(n):
        t = (t[1], t[2] * t[0], t[0])  # a rotation: each leaf reads another one
    a, b, c = t
    return np.sum(a + 2.0 * b + 3.0 * c)


def test_tuple_permuted_in_a_loop():
    for n in (0, 1, 2, 5):
        gradient = tg.grad(rotates_a_tuple)(X, n)
        np.testing.assert_allclose(rotates_a_tuple(X, n), tg.value_and_grad(rotates_a_tuple)(X, n)[0])
        np.testing.assert_allclose(gradient, numerical_grad(rotates_a_tuple, (X, n)), rtol=1e-6, atol=1e-8)
        _, derivative = tg.jvp(rotates_a_tuple, (X, n), (np.ones(4), 0))
        np.testing.assert_allclose(derivative, np.sum(gradient), rtol=1e-10)


def updates_in_a_branch_and_stops_early(x, n):
    pair = (x, x * x)
    for i in range(n):
        if np.sum(pair[0]) > 3.0:
            break
        if i % 2 == 0:
            pair = (pair[0] + pair[1], pair[1])
            continue
        pair = (pair[0], np.tanh(pair[1] * pair[0]))
    return np.sum(pair[0] * pair[1])


def test_tree_rebound_in_a_branch_with_break_and_continue():
    x = np.array([0.3, 0.5, -0.2, 0.4])
    for n in (1, 4, 8):
        gradient = tg.grad(updates_in_a_branch_and_stops_early)(x, n)
        np.testing.assert_allclose(gradient, numerical_grad(updates_in_a_branch_and_stops_early, (x, n)),
                                   rtol=1e-6, atol=1e-8)
        _, derivative = tg.jvp(updates_in_a_branch_and_stops_early, (x, n), (np.ones(4), 0))
        np.testing.assert_allclose(derivative, np.sum(gradient), rtol=1e-10)


def _sgd_step(params, x, rate):
    g = tg.grad(loss)(params, x)
    return [p - rate * gi for p, gi in zip(params, g)]


def epochs_of_steps_over_rows(params, batches):
    params = list(params)
    for epoch in range(2):
        for x in batches:  # the rows of a matrix: a runtime loop
            params = _sgd_step(params, x, LR / (1.0 + epoch))
    return loss(params, batches[0])


def epochs_of_steps_by_hand(params, batches):
    params = list(params)
    for rate in (LR, LR / 2.0):
        for row in (0, 1, 2):
            params = _sgd_step(params, batches[row], rate)
    return loss(params, batches[0])


def test_list_carried_through_nested_loops_and_a_helper():
    """A helper returning a list, called in a loop over rows nested in a loop over epochs."""
    batches = np.stack([X, X[::-1] * 0.5, np.cos(X)])
    params = (W, 0.2)
    meta = tg.grad(epochs_of_steps_over_rows)(params, batches)
    np.testing.assert_allclose(_flat(meta), _flat(numerical_grad(epochs_of_steps_over_rows, (params, batches))),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(_flat(meta), _flat(tg.grad(epochs_of_steps_by_hand)(params, batches)),
                               rtol=1e-10)
    batch_gradient = tg.grad(epochs_of_steps_over_rows, wrt=1)(params, batches)
    np.testing.assert_allclose(batch_gradient, numerical_grad(epochs_of_steps_over_rows, (params, batches), wrt=1),
                               rtol=1e-6, atol=1e-8)


def indexes_by_unrolled_keys(t, d):
    total = 0.0
    for i, v in enumerate(t):
        total = total + np.sum(t[i] * v)  # t[i] is v: i is known while compiling
    for k in d:
        total = total + np.sum(d[k] * t[0])
    scaled = {k: 2.0 * d[k] for k in d}
    return total + np.sum(scaled["a"] * scaled["b"])


def test_keys_and_indices_of_unrolled_loops_index_tuples_and_dicts():
    t, d = (X, 0.5), {"a": W, "b": np.cos(X)}
    grad_t, grad_d = tg.grad(indexes_by_unrolled_keys, wrt=(0, 1))(t, d)
    # by hand: sum(t0^2) + t1^2 + sum((a + b) * t0) + 4 sum(a * b)
    np.testing.assert_allclose(grad_t[0], 2 * X + W + np.cos(X))
    np.testing.assert_allclose(grad_t[1], 2 * 0.5)
    np.testing.assert_allclose(grad_d["a"], X + 4 * np.cos(X))
    np.testing.assert_allclose(grad_d["b"], X + 4 * W)
    np.testing.assert_allclose(grad_d["a"], numerical_grad(indexes_by_unrolled_keys, (t, d), wrt=1)["a"],
                               rtol=1e-6)


def keys_a_dict_by_values(x):
    d = {x[0]: x for k in (1, 2)}
    return np.sum(d[0.0])


def test_dict_comprehension_keys_must_be_known_while_compiling():
    with pytest.raises(UnsupportedSyntax, match="dict comprehension keys must be constants while compiling"):
        tg.grad(keys_a_dict_by_values)(X)


def grows_a_tuple(x, n):
    out = (x,)
    for i in range(n):
        out = out + (x * i,)
    return np.sum(out[0])


def changes_what_a_tuple_holds(x, n):
    t = (x, x)
    for i in range(n):
        t = (t[0], (t[1], x))
    return np.sum(t[0])


@pytest.mark.parametrize("function", [grows_a_tuple, changes_what_a_tuple_holds])
def test_a_tree_changing_structure_in_a_loop_is_rejected(function):
    with pytest.raises(UnsupportedSyntax) as info:
        tg.grad(function)(X, 3)
    message = str(info.value)
    assert "is read in this loop and rebound in it" in message and "for i in range(n)" in message


def test_jit_of_the_gradient_of_a_loop_carrying_a_tuple():
    compiled = tg.jit(tg.grad(rotates_a_tuple))
    np.testing.assert_allclose(compiled(X, 5), tg.grad(rotates_a_tuple)(X, 5), rtol=1e-12)
