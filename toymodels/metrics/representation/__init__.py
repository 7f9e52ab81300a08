"""Representation-structure measures for grokking models, batched over the member axis E.

Pure functions of tensors with a leading E axis, returning [E, ...]:

- ``rqi``: Liu et al. (2022)'s RQI, effective-theory loss, ideal and predicted test accuracy (addition toy);
  ``parallelograms``: the parallelogram index sets of Liu's table, cached per p.
- ``fourier``: Nanda et al. (2023)'s Fourier basis, Fourier-component norms of W_E / W_U / W_L, Gini
  coefficient, key frequencies, restricted and excluded loss.
- ``collapse``: Prieto et al. (2025)'s softmax-collapse fraction.
- ``similarity``: weight norms, effective rank (Roy & Vetterli), linear CKA (per member and between members).
- ``gromov``: Gromov (2023)'s analytic solution of the quadratic two-layer MLP and a per-neuron Fourier comparison.
"""
from .collapse import softmax_collapse_fraction
from .fourier import (KeyFrequencies, component_frequencies, embedding_fourier_norms, excluded_loss,
                      fourier_ablation_logits, fourier_ablation_losses, fourier_basis, fourier_component_norms, gini,
                      key_frequencies, masked_cross_entropy, n_frequencies, neuron_logit_fourier_norms,
                      neuron_logit_map, restricted_loss, sum_directions, unembedding_fourier_norms)
from .gromov import (GromovSolution, NeuronFourier, frequency_histogram, gromov_agreement, gromov_solution,
                     neuron_fourier)
from .parallelograms import Parallelograms, liu_table_size, parallelograms
from .rqi import (effective_loss, ideal_test_accuracy, parallelogram_distances, predicted_test_accuracy, rqi,
                  standardize)
from .similarity import effective_rank, linear_cka, linear_cka_matrix, weight_norms

__all__ = [
    "softmax_collapse_fraction",
    "KeyFrequencies", "component_frequencies", "embedding_fourier_norms", "excluded_loss", "fourier_ablation_logits",
    "fourier_ablation_losses", "fourier_basis", "fourier_component_norms", "gini", "key_frequencies",
    "masked_cross_entropy", "n_frequencies", "neuron_logit_fourier_norms", "neuron_logit_map", "restricted_loss",
    "sum_directions", "unembedding_fourier_norms",
    "GromovSolution", "NeuronFourier", "frequency_histogram", "gromov_agreement", "gromov_solution", "neuron_fourier",
    "Parallelograms", "liu_table_size", "parallelograms",
    "effective_loss", "ideal_test_accuracy", "parallelogram_distances", "predicted_test_accuracy", "rqi",
    "standardize",
    "effective_rank", "linear_cka", "linear_cka_matrix", "weight_norms",
]
