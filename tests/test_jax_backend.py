"""The GPU path: the GPU machines have JAX and no TensorFlow, so training, noise and BN folding
must run on Keras's JAX backend. Runs in a separate process (the backend is fixed at import);
skipped where JAX is not installed (CI installs it: see .ci/run)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="JAX is not installed (pip install jax)")

SCRIPT = textwrap.dedent("""
    import sys
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from analognoise import noise, params, training
    p = params.make_params(depth=8, epochs=2, batch_size=32, train_subset=200, preset=None)
    run_dir = training.train_run(p, sys.argv[1] + "/runs", sys.argv[2], verbose=0)
    fast = params.make_params("fast", depth=8, epochs=2, warmup_epochs=1, batch_size=32, train_subset=200, bn="none")
    training.train_run(fast, sys.argv[1] + "/runs", sys.argv[2], verbose=0)
    for targets in ("trainable", "folded"):
        table = noise.inject_run(run_dir, etas=[0.0, 0.2], repeats=2, targets=targets, data_dir=sys.argv[2],
                                 output=f"noise-{targets}.csv", batch_size=50)
        assert len(table) == 4 and table.accuracy.between(0, 1).all(), table
    print("jax backend ok", keras.backend.backend())
""")


def test_train_noise_and_folding_on_the_jax_backend(tmp_path, data_root):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(data_root)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jax backend ok jax" in result.stdout
