"""What a lab tells pytest about a test: a failed run's Ansible output on the test's report,
and Ansible's deprecations as pytest warnings.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from .exceptions import AnsibleDeprecationWarning

if TYPE_CHECKING:
    from .converge import Converger

# A failed Ansible run's whole output, put on the test item that reports it: the report's
# failure text then carries it (terminal and JUnit XML alike).
ANSIBLE_OUTPUT_KEY = pytest.StashKey[str]()

# A user property of a stage that ran nothing because its hosts came converged: where from.
# It rides on the report (JUnit XML shows it as a property), and the pass says it.
SERVED = "dockerlab_converged_by"


def warn_deprecations(converger: Converger) -> None:
    """Ansible's deprecation warnings not shown yet, said where pytest says warnings, at the
    playbook's file and line when Ansible names it (else the task's name is in the text)."""
    while converger.deprecations:
        found = converger.deprecations.pop(0)
        if found.file:
            warnings.warn_explicit(
                AnsibleDeprecationWarning(found.message),
                AnsibleDeprecationWarning,
                found.file,
                found.line,
            )
        else:
            task = f" (task {found.task})" if found.task else ""
            warnings.warn(AnsibleDeprecationWarning(found.message + task), stacklevel=1)
