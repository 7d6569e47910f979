"""What the harness must report for each method of attrbench_zoo.py (importable without
registering the zoo)."""

#: method → a phrase of the message the guard must give for it.
CAUSES = {
    "zoo_raises": "raised ValueError: the zoo method failed on purpose",
    "zoo_nan": "returned non-finite values",
    "zoo_inf": "returned non-finite values",
    "zoo_shape": "returned shape (",
    "zoo_dtype": "returned dtype torch.int64",
    "zoo_device": "returned a tensor on meta",
    "zoo_numpy": "returned a numpy.ndarray, not a torch.Tensor",
    "zoo_mutates_input": "mutated its input tensor in place",
    "zoo_changes_weights": "changed the model: changed parameter/buffer",
    "zoo_train_mode": "changed the model: switched the model to train mode",
    "zoo_requires_grad": "changed the model: changed requires_grad",
    "zoo_nondeterministic": "is not deterministic",
    "zoo_sleeps": "s time limit",
    "zoo_memory_hog": "ran out of memory",
}

#: Seconds the sleeper sleeps: far past any limit a test sets.
SLEEP_SECONDS = 120
#: Environment variable naming a file the sleeper creates when it starts sleeping (so a
#: test knows when to interrupt the run).
MARK_ENV = "ATTRBENCH_ZOO_SLEEP_MARK"
