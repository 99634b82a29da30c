import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# No TensorFlow import here: under pytest-xdist the controller process loads
# this file too, and TF's start-up lines would land after the summary line.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(items):
    """Order the tests for `make test`'s two workers (`-n 2 --dist
    worksteal`), which start on the two halves of this order and steal from
    the end of each other's: the tests marked `heavy` (minutes each) lead the
    halves, alternately, so that the workers end together. The others keep
    their order, so tests that share a module's fixture mostly stay on one
    worker (not where the halves meet, or where a worker steals)."""
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    rest = [item for item in items if not item.get_closest_marker("heavy")]
    first = heavy[0::2]
    middle = max(len(items) // 2 - len(first), 0)
    items[:] = first + rest[:middle] + heavy[1::2] + rest[middle:]
