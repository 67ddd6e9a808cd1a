r"""Sums of ReLUs of differences over all pairs without the pairs: the kernels of
:meth:`graham.nn.graham_conv.GrahamConv.forward_complete`.

For every feature k, :math:`\sum_j \operatorname{relu}(a_{ik} - b_{jk}) = n_{ik} a_{ik} -
\sum_{b_{jk} < a_{ik}} b_{jk}`, where :math:`n_{ik}` counts the :math:`b_{jk}` below
:math:`a_{ik}`: one sort, one ``searchsorted`` and a prefix sum per feature, O(N h log N) time
and O(N h) memory instead of O(N^2 h). The two autograd functions write their backward out:
they keep only their inputs and recompute the sorts a few features at a time, so a million
nodes train in bounded memory. Both are tested against dense loops and ``gradcheck``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["sort_rows", "ReluDiffSum", "ShiftedReluSum"]


def sort_rows(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of ``t`` [shape=(c, N)] sorted ascending, with the permutation [int64], ties in
    index order (a stable sort).

    On the CPU in float32 this is one numpy sort of integer keys that pack each value's
    order-preserving bits (high 32) with its index (low 32): numpy's vectorised integer sort
    gives values and permutation together about 2x faster than ``torch.sort`` on an AVX2 CPU
    (``benchmarks/README.md``, "A million nodes"), and the values are decoded from the keys.
    Elsewhere (GPU, float64) it is ``torch.sort(stable=True)``.
    """
    if t.device.type != "cpu" or t.dtype != torch.float32 or t.shape[-1] >= 2 ** 31 or sys.byteorder != "little":
        return torch.sort(t, dim=-1, stable=True)
    u = t.detach().contiguous().numpy().view(np.uint32)
    keys = np.empty(u.shape[:-1] + (2 * u.shape[-1],), dtype=np.uint32)  # little-endian uint64 (low, high)
    keys[..., 0::2] = np.arange(u.shape[-1], dtype=np.uint32)
    # IEEE-754 bits -> unsigned integers in the order of the floats: flip negatives, set the sign of positives
    np.bitwise_xor(u, (np.uint32(0) - (u >> np.uint32(31))) | np.uint32(0x80000000), out=keys[..., 1::2])
    keys.view(np.uint64).sort(axis=-1)
    high = keys[..., 1::2]
    bits = np.bitwise_xor(high, np.where(high >> np.uint32(31), np.uint32(0x80000000), np.uint32(0xFFFFFFFF)))
    values = torch.from_numpy(bits.view(np.float32))
    return values, torch.from_numpy(keys[..., 0::2].astype(np.int64))


def _sorted_values(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``t`` sorted ascending (values only; numpy's vectorised sort on the CPU)."""
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.sort(t.detach().contiguous().numpy(), axis=-1))
    return torch.sort(t, dim=-1).values


def _prefix(v: torch.Tensor) -> torch.Tensor:
    """Exclusive prefix sums along the last axis [shape=(..., N + 1)]: out[..., p] = sum(v[..., :p])."""
    return F.pad(torch.cumsum(v, dim=-1), (1, 0))


class ReluDiffSum(torch.autograd.Function):
    """``S_ik = sum_j relu(a_ik - b_jk)`` for separate targets ``a`` and sources ``b`` (the
    inductive case: new clips against reference clips), ``chunk`` features at a time.

    Autograd through sort, searchsorted and gather would keep the sort's indices, the counts,
    the prefix sums and transposed copies: several (N, h) buffers per layer. Here only ``a``
    and ``b`` are saved and the backward recomputes what it needs:
    dS_ik/da_ik = #{j: b_jk < a_ik} and dL/db_jk = -sum_{i: a_ik > b_jk} g_ik (a suffix sum of
    g in the order of a). Ties count as relu's own subgradient at 0 (zero), as autograd does.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.chunk = chunk
        out = torch.empty_like(a)
        for k0 in range(0, a.shape[1], chunk):
            bs = _sorted_values(b[:, k0:k0 + chunk].T)  # (c, Nb)
            at = a[:, k0:k0 + chunk].T.contiguous()  # (c, Na)
            cnt = torch.searchsorted(bs, at)  # #{j: b_jk < a_ik}
            out[:, k0:k0 + chunk] = (cnt.to(a.dtype) * at - torch.gather(_prefix(bs), 1, cnt)).T
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        a, b = ctx.saved_tensors
        grad_a = torch.empty_like(a) if ctx.needs_input_grad[0] else None
        grad_b = torch.empty_like(b) if ctx.needs_input_grad[1] else None
        for k0 in range(0, a.shape[1], ctx.chunk):
            cols = slice(k0, k0 + ctx.chunk)
            at, bt = a[:, cols].T.contiguous(), b[:, cols].T.contiguous()  # (c, Na), (c, Nb)
            if grad_a is not None:
                grad_a[:, cols] = (g[:, cols].T * torch.searchsorted(_sorted_values(bt), at).to(g.dtype)).T
            if grad_b is not None:
                as_, order = sort_rows(at)
                suffix = _prefix(torch.gather(g[:, cols].T, 1, order).flip(1)).flip(1)  # suffix[p] = sum of g[p:]
                grad_b[:, cols] = (-torch.gather(suffix, 1, torch.searchsorted(as_, bt, right=True))).T
        return grad_a, grad_b, None


class ShiftedReluSum(torch.autograd.Function):
    """``S_ki = sum_j relu(b_ki + c_k - b_kj)``, feature-major [shape=(h, N)]: :class:`ReluDiffSum`
    for the transductive layer, where targets and sources are the same nodes and ``a = b + c``
    feature by feature.

    One sort of each feature of ``b`` orders ``a`` too, so the counts
    ``cnt_i = #{j: b_j < a_i}`` come from searching sorted queries (cache-friendly). The
    backward needs neither a sort nor a search: in sorted order, ``#{i: a_i <= b_j}`` is
    ``#{i: cnt_i <= j}`` (the counts are monotone), a bincount and a prefix sum. Per chunk of
    ``chunk`` features it keeps only the permutation and the counts, as int32.
    Gradients: dS_ki/db_ki = dS_ki/dc_k = cnt_ki, dL/db_kj -= sum_{i: a_ki > b_kj} g_ki.
    """

    @staticmethod
    def forward(ctx, bt: torch.Tensor, c: torch.Tensor, chunk: int) -> torch.Tensor:
        bt = bt.contiguous()
        out = torch.empty_like(bt)
        saved = []
        for k0 in range(0, bt.shape[0], chunk):
            bs, order = sort_rows(bt[k0:k0 + chunk])  # (c, N): sorted b and where it came from
            as_ = bs + c[k0:k0 + chunk].unsqueeze(1)  # a in the same order is sorted too
            cnt = torch.searchsorted(bs, as_)  # #{j: b_kj < a_ki}, i in sorted order
            as_ *= cnt.to(bs.dtype)
            as_ -= torch.gather(_prefix(bs), 1, cnt)
            out[k0:k0 + chunk].scatter_(1, order, as_)
            saved += [order.to(torch.int32), cnt.to(torch.int32)]
        ctx.save_for_backward(c, *saved)
        ctx.chunk = chunk
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        c, *saved = ctx.saved_tensors
        g = g.contiguous()
        n = g.shape[1]
        grad_b, grad_c = torch.empty_like(g), torch.empty_like(c)
        for k, k0 in enumerate(range(0, g.shape[0], ctx.chunk)):
            order, cnt = saved[2 * k].long(), saved[2 * k + 1]  # the counts stay int32: (N, chunk) buffers add up
            rows = order.shape[0]
            gs = torch.gather(g[k0:k0 + rows], 1, order)  # g in sorted order
            target_side = gs * cnt.to(g.dtype)  # g_i * cnt_i
            grad_c[k0:k0 + rows] = target_side.sum(1)
            # pos_j = #{i: a_i <= b_j} = #{i: cnt_i <= j}: a histogram of the counts, summed up in place
            wide = torch.int32 if rows * (n + 1) < 2 ** 31 else torch.int64
            keys = cnt.to(wide) + torch.arange(rows, device=g.device, dtype=wide).unsqueeze(1) * (n + 1)
            hist = torch.bincount(keys.flatten(), minlength=rows * (n + 1)).view(rows, n + 1)
            del keys
            back = hist.cumsum_(1)[:, :n].neg_().add_(n)  # n - pos_j, in place: no second (chunk, N) buffer
            # tails[q] = sum of the last q of gs, so the sum of gs[p:] is tails[n - p]: built in
            # one buffer, without flipping back and padding (each a further copy)
            tails = g.new_zeros(rows, n + 1)
            tails[:, 1:] = gs.flip(1)
            del gs
            tails.cumsum_(1)
            target_side -= torch.gather(tails, 1, back)  # minus the source side: sum of g_i over a_i > b_j
            del tails, hist, back
            grad_b[k0:k0 + rows].scatter_(1, order, target_side)
        return grad_b, grad_c, None
