"""Outgoing HTTP that never follows redirects (health checks, blue-green probes, webhooks).

A redirect is an answer, not an instruction: a health endpoint that moved is a configuration to
fix, following it could end anywhere, and urllib would turn a webhook's POST into a GET.
"""

import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# urllib raises HTTPError for the 3xx answer itself, like for any other non-2xx status.
no_redirect_opener = urllib.request.build_opener(_NoRedirect)
