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

from attrbench.methods.variants import register_variant

#: 001 §4.1's own adversary: every flip inside the window or subset, exact on the Boolean
#: circuits (decomposition_recovery 1) where the relaxed FGSM default is not.
register_variant(None, "influence_decomposition", attack="bitflip", requires={"boolean"})
