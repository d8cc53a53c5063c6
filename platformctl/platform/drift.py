"""Does a live object already say what platformctl would apply? Decided without a request.

A re-run of `up` with nothing changed must send no mutating request, so every rendered object is
compared with its live copy (read in one LIST per kind) before anything is applied. Naive equality
fails against a real API server: it fills in defaults (`clusterIP`, `terminationMessagePath`,
`revisionHistoryLimit`, ...), other managers own fields of their own, and quantities come back in
canonical form. So the comparison is:

1. every field platformctl sets is present in the live object with the same value (live may hold more:
   defaults, status, other managers' fields); quantities compare by value (`0.5` == `500m`);
2. every field the `platformctl` field manager owns (its `managedFields` entry, `fieldsV1`) is still
   in the rendered object: a field dropped from a template is a change, because the next apply removes
   it (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).

This errs towards "changed" (a list another manager extended, a value the server normalised in a way
not handled here); `kubesync.sync` then asks the server with a dry-run apply, which has the last word.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from platformctl.platform.render import MANAGER  # the field manager of every apply, and the managed-by label

# Fields of the object that are not configuration: never compared.
_IGNORED_TOP = {"apiVersion", "kind", "status"}

_QUANTITY = re.compile(r"([+-]?[0-9.]+)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?")
_SUFFIX = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity (`500m`, `1Gi`), or None when `text` is not one."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, str) and isinstance(live, str):
        # The server stores quantities canonically: `1000m` comes back as `1`.
        a, b = quantity(desired), quantity(live)
        return a is not None and a == b
    # JSON has one number type: 1 and 1.0 are the same value.
    numbers = (int, float)
    return (
        isinstance(desired, numbers)
        and isinstance(live, numbers)
        and not isinstance(desired, bool)
        and not isinstance(live, bool)
        and desired == live
    )


def differences(desired: Any, live: Any, path: str = "") -> list[str]:
    """Paths where `live` does not hold what `desired` sets (extra live fields are fine)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [path or "."]
        found: list[str] = []
        for key, value in desired.items():
            if not path and key in _IGNORED_TOP:
                continue
            sub = f"{path}.{key}"
            if key not in live:
                # An empty map or list the server drops on storage (`emptyDir: {}` is kept, but
                # `annotations: {}` is not) is no difference.
                if value in ({}, []) and sub.count(".") > 1:
                    continue
                found.append(sub)
                continue
            found += differences(value, live[key], sub)
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path]
        found = []
        for index, (d, item) in enumerate(zip(desired, live, strict=True)):
            found += differences(d, item, f"{path}[{index}]")
        return found
    return [] if _same_scalar(desired, live) else [path]


def owned_fields(live: dict[str, Any], manager: str = MANAGER) -> dict[str, Any] | None:
    """The `fieldsV1` set that `manager` owns through apply, or None when it owns nothing."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields = entry.get("fieldsV1")
            return fields if isinstance(fields, dict) else {}
    return None


def _element_matches(element: Any, key: dict[str, Any]) -> bool:
    if not isinstance(element, dict):
        return False
    # A key field left to its default (a port's `protocol: TCP`) is absent from what we send.
    return all(name not in element or element[name] == value for name, value in key.items())


def dropped_fields(fields: dict[str, Any], desired: Any, path: str = "") -> list[str]:
    """Paths the manager owns (`fields`, in fieldsV1 form) that `desired` no longer sets."""
    found: list[str] = []
    for token, child in fields.items():
        if token == ".":
            continue
        prefix, _, rest = token.partition(":")
        sub_desired: Any
        if prefix == "f":
            if not isinstance(desired, dict) or rest not in desired:
                found.append(f"{path}.{rest}")
                continue
            sub_desired, sub_path = desired[rest], f"{path}.{rest}"
        elif prefix == "k":
            key = json.loads(rest)
            matches = [e for e in desired if _element_matches(e, key)] if isinstance(desired, list) else []
            if not matches:
                found.append(f"{path}[{rest}]")
                continue
            sub_desired, sub_path = matches[0], f"{path}[{rest}]"
        elif prefix == "v":
            value = json.loads(rest)
            if not isinstance(desired, list) or value not in desired:
                found.append(f"{path}[{rest}]")
            continue
        elif prefix == "i":
            if not isinstance(desired, list) or int(rest) >= len(desired):
                found.append(f"{path}[{rest}]")
                continue
            sub_desired, sub_path = desired[int(rest)], f"{path}[{rest}]"
        else:
            continue
        if isinstance(child, dict) and child:
            found += dropped_fields(child, sub_desired, sub_path)
    return found


def drift(desired: dict[str, Any], live: dict[str, Any], manager: str = MANAGER) -> list[str]:
    """Why applying `desired` would change `live` ([] when it would not, as far as we can tell)."""
    reasons = [f"{p} differs" for p in differences(desired, live)]
    owned = owned_fields(live, manager)
    if owned is None:
        reasons.append(f"not applied by {manager} yet")
    else:
        reasons += [f"{p} no longer set" for p in dropped_fields(owned, desired)]
    return reasons


def _without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    # `status` belongs to the controllers and moves on its own (pods becoming ready between the read and
    # the dry-run); an apply never writes it, so it must not make a re-run write. Nor may the managedFields
    # entry of whoever wrote it: a real API server's ValidatingAdmissionPolicy type checker writes the
    # policy's status (a new `status` entry) a moment after every apply.
    meta["managedFields"] = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in meta.get("managedFields") or []
        if entry.get("subresource") != "status"
    ]
    return {key: value for key, value in {**obj, "metadata": meta}.items() if key != "status"}


def same_object(result: dict[str, Any], live: dict[str, Any]) -> bool:
    """Would storing `result` (a dry-run apply's answer) change nothing that matters in `live`?"""
    a, b = _without_volatile(result), _without_volatile(live)
    for obj in (a, b):
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
    return a == b
