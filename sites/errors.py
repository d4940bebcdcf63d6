"""The one error type the pure core raises for bad input.

`InvalidInput.field` names the offending field so that the gRPC layer can answer
INVALID_ARGUMENT with it and the CLI can point at the key. Whatever raised it has left the
state exactly as it was: every handler validates before it changes anything.
"""


class InvalidInput(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self):
        # args hold only the joined message; rebuild from the parts so the error survives
        # pickling across a Ray actor boundary with its field intact.
        return type(self), (self.field, self.problem)


# Refusals of an administrative change, by why: still an InvalidInput (nothing changed, the
# field is named), so that one type reaches the gateway, which maps each kind to its gRPC
# status in one place (cluster/servicers/errors.py).
class NotFound(InvalidInput):
    """The named skill, agent or site does not exist (gRPC NOT_FOUND)."""


class PreconditionFailed(InvalidInput):
    """Valid, but the live state forbids it now, e.g. an agent still logged in (gRPC
    FAILED_PRECONDITION)."""
