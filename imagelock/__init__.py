"""imagelock: readable tags in Dockerfiles, digests in images.lock, reproducible buildx builds."""

__version__ = "0.1.0"
