from console import liveness
from console.navigation import nav_for


def console(request):
    """The banner's liveness verdict and the navigation, for every logged-in page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    verdict = liveness.status()
    return {
        "liveness": verdict,
        "liveness_ok": all(s.alive for s in verdict.values()),
        "nav": nav_for(request),
    }
