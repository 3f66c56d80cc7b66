"""HornbeamError: the seed's RuntimeError, carrying the service's ProblemDetails."""

PROBLEM_PREFIX = "urn:hornbeam:problem:"


class HornbeamError(RuntimeError):
    """A call the service refused or could not complete.

    ``status`` is the HTTP status (None when no answer arrived), ``problem`` the ProblemDetails dict as the service
    sent it (``type``, ``title``, ``status``, ``detail``, and extras such as a failed task's ``task_id``), and ``kind``
    the last part of its type: ``'not-found'``, ``'conflict'``, ``'handler-failed'``, ``'timeout'``,
    ``'redis-unavailable'`` (certainly not applied), ``'outcome-unknown'`` (may have applied), and so on (docs/errors.md).
    """

    def __init__(self, status, problem, retry_after=None):
        self.status = status
        self.problem = dict(problem or {})
        self.type = self.problem.get("type")
        self.title = self.problem.get("title")
        self.detail = self.problem.get("detail")
        self.retry_after = retry_after
        super().__init__(self._message())

    @property
    def kind(self):
        """``'outcome-unknown'`` for ``urn:hornbeam:problem:outcome-unknown``; the framework's types come back whole."""
        t = self.type or ""
        return t[len(PROBLEM_PREFIX):] if t.startswith(PROBLEM_PREFIX) else t

    def _message(self):
        head = f"{self.status} {self.kind or self.title or 'error'}" if self.status else (self.kind or "error")
        return f"{head}: {self.detail}" if self.detail else head


class HornbeamConnectionError(HornbeamError):
    """No answer from the service: ``kind`` is ``'unreachable'`` when nothing was sent (certainly not applied) and
    ``'outcome-unknown'`` when the request went out and the connection failed before the answer (it may have applied)."""

    def __init__(self, kind, detail):
        super().__init__(None, {"type": PROBLEM_PREFIX + kind, "title": kind, "detail": detail})
