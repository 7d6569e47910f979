"""Imports every built-in method family so that their registrations run."""

from attrbench.methods import (  # noqa: F401
    control,
    distributional,
    influence,
    gradient,
    integrated_gradients,
    integrated_hessians,
    interaction_indices,
    modified_gradient,
    occlusion,
    path,
    shapley,
)
