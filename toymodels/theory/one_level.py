"""One-point functions of the ridge / random-feature deterministic equivalents at a complex spectral argument z.

Both models reduce, given the projection, to one-level ridge on features (see ``random_features``): its
renormalised ridge k1(z) and the signal function T_C(k1) = v*^T C (C + k1)^-1 v* are explicit functions of one
parameter p (p = kappa for ridge; p = k2 for random features) and lambda(p) = -z is explicit too. These are the
ingredients of the gradient-descent contour integrals in ``gd_curves``.

Shapes: the spectrum ``eta`` has shape [..., M] (trailing axis = eigenvalues); every grid parameter has a shape
broadcastable to the grid [...]; p may carry extra trailing axes (e.g. [..., T, K] contour nodes): callers pass the
spectrum and grid parameters already unsqueezed to match ([..., 1, 1, M] and [..., 1, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .random_features import rf_k2, sigma_F2
from .ridge import T_fn, df1, df2, kappa_ridge


@dataclass
class OneLevel:
    """A ridge (N None) or random-feature model, with its grid parameters already broadcast.

    eta, wbar [..., M]; P, N, mu1, mustar [...]; sF2 [...] = sigma_F^2 (0 for ridge)."""

    eta: torch.Tensor
    wbar: torch.Tensor
    P: torch.Tensor
    N: torch.Tensor | None
    mu1: torch.Tensor
    mustar: torch.Tensor
    sF2: torch.Tensor

    @classmethod
    def build(cls, eta, wbar, P, N=None, mu1=1.0, mustar=0.0) -> "OneLevel":
        f = lambda v: v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.float64)
        eta, wbar, P, mu1, mustar = f(eta), f(wbar), f(P), f(mu1), f(mustar)
        Nt = None if N is None else f(N)
        shape = torch.broadcast_shapes(eta.shape[:-1], wbar.shape[:-1], P.shape, mu1.shape, mustar.shape,
                                       *(() if Nt is None else (Nt.shape,)))
        M = eta.shape[-1]
        eta, wbar = eta.expand(*shape, M), wbar.expand(*shape, M)
        P, mu1, mustar = P.expand(shape), mu1.expand(shape), mustar.expand(shape)
        if Nt is None:
            sF2 = torch.zeros(shape, dtype=torch.float64)
        else:
            Nt = Nt.expand(shape)
            sF2 = sigma_F2(eta, wbar, Nt, mu1, mustar)
        return cls(eta, wbar, P, Nt, mu1, mustar, sF2)

    def unsqueeze(self, n: int) -> "OneLevel":
        """The same model with ``n`` singleton axes after the grid (for p of shape [..., *extra])."""
        g = lambda t: t.reshape(*t.shape, *([1] * n))
        s = lambda t: t.reshape(*t.shape[:-1], *([1] * n), t.shape[-1])
        return OneLevel(s(self.eta), s(self.wbar), g(self.P), None if self.N is None else g(self.N), g(self.mu1),
                        g(self.mustar), g(self.sF2))

    # --- real solve -------------------------------------------------------------------------------------------
    def p_of_lambda(self, lam: torch.Tensor) -> torch.Tensor:
        """The physical real p [...] for real lambda >= 0 (``kappa_ridge`` / ``rf_k2``)."""
        if self.N is None:
            return kappa_ridge(self.eta, self.P, lam)
        return rf_k2(self.eta, self.N, self.P, lam, self.mu1, self.mustar)

    # --- functions of p (real or complex) ------------------------------------------------------------------------
    def parts(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """k1, lambda, d lambda/dp and T_C at p (AZP 2024 ridge and random-feature equivalents, in the module's notation)."""
        eta, wbar, P = self.eta, self.wbar, self.P
        D1, D2 = df1(eta, p), df2(eta, p)
        T = T_fn(eta, wbar, p)
        if self.N is None:  # ridge: p = kappa = k1
            return {"k1": p, "lam": p * (1 - D1 / P), "dlam": 1 - D2 / P, "TC": T}
        N, mu1, mustar, M = self.N, self.mu1, self.mustar, eta.shape[-1]
        kt = p * (N - D1) / M  # kappa~
        k1 = mu1 ** 2 * kt - mustar ** 2
        lin = mustar == 0
        A = torch.where(lin, torch.ones_like(k1), k1 / (mu1 ** 2 * kt))
        l = (N - D1) / (N - D2)
        dfC = N - A * (N - D1)
        gC = (N - A * (2 - A) * (N - D1) - A ** 2 * l * (D1 - D2)) / P
        dk1 = mu1 ** 2 * (N - D2) / M  # d k1 / d k2
        TC = (p * T - self.sF2) / k1
        return {"k1": k1, "lam": k1 * (1 - dfC / P), "dlam": dk1 * (1 - gC), "TC": TC}

    def divided_TC(self, p: torch.Tensor) -> torch.Tensor:
        """D[..., j, k] = (T_C(z_k) - T_C(z_j)) / (z_k - z_j) for the contour nodes p [..., K] (z = -lambda(p)), the
        diagonal being dT_C/dz; call it on the model unsqueezed to p's shape without the node axis K.

        Written without differences of nearly equal numbers (late times crowd the nodes near z = 0): with the pair
        sums S_c[j, k] = sum_m c_m / ((eta_m + p_j)(eta_m + p_k)), ridge has T(k') - T(k) = -(k' - k) S_{w^2 eta}
        and lambda - lambda' = (k - k')(1 - S_{eta^2}/P), so D = S_{w^2 eta} / (1 - S_{eta^2}/P); random features
        use the same kind of identities for T_C = (k2 T(k2) - sigma_F^2)/k1 and lambda(k2)."""
        eta, P = self.eta[..., None, :], self.P[..., None, None]  # [..., 1, M], [..., 1, 1]
        Am = 1.0 / (eta + p[..., :, None])  # [..., K, M]

        def pair(c: torch.Tensor) -> torch.Tensor:  # c [..., 1, M] -> [..., K, K]
            return (Am * c) @ Am.transpose(-1, -2)

        a = self.wbar[..., None, :] ** 2
        if self.N is None:
            return pair(a * eta) / (1 - pair(eta ** 2) / P)
        N, mu1, ms, M = self.N[..., None, None], self.mu1[..., None, None], self.mustar[..., None, None], eta.shape[-1]
        q = self.unsqueeze(1).parts(p)  # this model is unsqueezed to p's shape without the node axis K
        k1, TC = q["k1"], q["TC"]  # [..., K]
        x = p[..., :, None]  # row node j ("x"), column node k ("y")
        D1x = (eta / (eta + x)).sum(-1)[..., None]  # [..., K, 1] Df1 at the row node
        dU = pair(a * eta ** 2)  # divided difference of k2 T(k2)
        dk1 = mu1 ** 2 / M * (N - pair(eta ** 2))  # of k1(k2) = mu1^2 k2 (N - Df1)/D - mustar^2
        dNmD = pair(eta)  # of N - Df1(k2)
        k1x, k1y = k1[..., :, None], k1[..., None, :]
        dTC = (dU - TC[..., None, :] * dk1) / k1x  # (T_C(x) - T_C(y))/(x - y)
        c = ms ** 2
        g_y = k1y ** 2 / (c + k1y)  # g(k1) = k1^2/(mustar^2 + k1) = k1 A
        dg = dk1 * (1 - c ** 2 / ((c + k1x) * (c + k1y)))
        dlam = dk1 - (N * dk1 - dg * (N - D1x) - g_y * dNmD) / P
        return dTC / (-dlam)

    def lam_dlam(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda(p) and d lambda/dp only (what Newton needs; ``parts`` without T)."""
        eta, P = self.eta, self.P
        x = eta / (eta + p[..., None])  # [..., M]
        D1, D2 = x.sum(-1), (x * x).sum(-1)
        if self.N is None:
            return p * (1 - D1 / P), 1 - D2 / P
        N, mu1, mustar, M = self.N, self.mu1, self.mustar, eta.shape[-1]
        kt = p * (N - D1) / M
        k1 = mu1 ** 2 * kt - mustar ** 2
        A = torch.where(mustar == 0, torch.ones_like(k1), k1 / (mu1 ** 2 * kt))
        l = (N - D1) / (N - D2)
        gC = (N - A * (2 - A) * (N - D1) - A ** 2 * l * (D1 - D2)) / P
        return k1 * (1 - (N - A * (N - D1)) / P), mu1 ** 2 * (N - D2) / M * (1 - gC)

    def residual(self, p: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda(p) + z and its p-derivative (Newton on the physical branch, z = -lambda)."""
        lam, dlam = self.lam_dlam(p)
        return lam + z, dlam

    def right_edge(self, n: int = 4000) -> torch.Tensor:
        """Right edge s_+ [...] of the deterministic-equivalent spectrum of the empirical (feature) covariance:
        the minimum of z(p) = -lambda(p) over real p < -max(eta) (scanned on a log grid of ``n`` points)."""
        x = torch.logspace(-8, 8, n, dtype=torch.float64)  # [n]
        top = self.eta.max(-1).values  # [...]
        p = -top[..., None] * (1 + x)  # [..., n]
        z = -self.unsqueeze(1).lam_dlam(p)[0]
        return z.min(-1).values
