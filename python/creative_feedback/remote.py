"""The remote mode: the same loop answered by a ``crefl serve`` sidecar over HTTP, with the
standard library only. ``CreativeFeedbackLoop(remote="http://127.0.0.1:8080")`` switches to
it; decisions, errors, metrics and history read exactly as in-process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from ._native import StateError


class RemoteError(RuntimeError):
    """The sidecar could not be reached, or answered an error that is not about the state."""


class RemoteEngine:
    """What the loop needs from an engine, asked of a sidecar. One keep-alive-free request
    per call (urllib), ``timeout`` seconds at most each."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        session: Optional[str] = None,
        timeout: float = 5.0,
    ) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"remote must be an http(s) URL like http://127.0.0.1:8080, got {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.session = session
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"error": text.decode("utf-8", "replace")}
        except (urllib.error.URLError, OSError) as e:
            raise RemoteError(f"cannot reach the sidecar at {self.url}: {e}") from e

    def _get(self, path: str) -> Any:
        status, body = self._request("GET", path)
        if status != 200:
            raise RemoteError(f"GET {path}: {status} {body}")
        return body

    def update(self, state: Dict[str, Any]) -> Dict[str, Any]:
        if not isinstance(state, dict):
            raise StateError(f"the state must be a dict, got {type(state).__name__}")
        path = (
            "/v1/update"
            if self.session is None
            else f"/v1/sessions/{urllib.parse.quote(self.session, safe='')}/update"
        )
        status, body = self._request("POST", path, json.dumps(state).encode())
        if status == 200:
            return body  # type: ignore[no-any-return]
        if status == 422 and isinstance(body, dict) and "fields" in body:
            fields = [{"field": f["field"], "message": f["message"]} for f in body["fields"]]
            error = StateError("invalid state: " + "; ".join(f"{f['field']}: {f['message']}" for f in fields))
            error.fields = fields
            raise error
        if status == 400:
            raise StateError(body.get("error", str(body)) if isinstance(body, dict) else str(body))
        raise RemoteError(f"POST {path}: {status} {body}")

    def metrics(self) -> Dict[str, Any]:
        if self.session is None:
            body = self._get("/v1/metrics")
            body.pop("stream", None)
            return body  # type: ignore[no-any-return]
        return self._get(f"/v1/sessions/{urllib.parse.quote(self.session, safe='')}")["metrics"]  # type: ignore[no-any-return]

    def history(self) -> List[Dict[str, Any]]:
        if self.session is None:
            return self._get("/v1/history?limit=1000000")  # type: ignore[no-any-return]
        return self._get(f"/v1/sessions/{urllib.parse.quote(self.session, safe='')}")["history"]  # type: ignore[no-any-return]

    def health(self) -> Dict[str, Any]:
        body = self._get("/health/creativity")
        return {"status": body["status"], "reason": body.get("reason")}

    def progress(self) -> Tuple[int, float]:
        m = self.metrics()
        return m["steps"], m["cumulative_gain"]

    def last_exploration(self) -> Optional[Dict[str, Any]]:
        history = self.history()
        return history[-1] if history else None

    def hook_errors(self) -> int:
        return 0

    def _unavailable(self, what: str) -> RemoteError:
        return RemoteError(
            f"{what} is not available in remote mode: the sidecar keeps the loop; "
            "configure it with crefl serve's --config, or use the loop in-process"
        )

    def config(self) -> Dict[str, Any]:
        raise self._unavailable("config")

    def snapshot(self) -> str:
        raise self._unavailable("snapshot")

    def quality(self) -> Dict[str, Any]:
        raise self._unavailable("quality_model")

    def set_quality(self, key: str, value: Any) -> None:
        raise self._unavailable("quality_model")

    def update_many(self, states: Any) -> Dict[str, Any]:
        raise self._unavailable("update_many")

    def pretrain_jsonl(self, text: str) -> Dict[str, Any]:
        raise self._unavailable("pretrain (crefl pretrain writes a model for --model)")

    def pretrain_arrays(self, *arrays: Any) -> Dict[str, Any]:
        raise self._unavailable("pretrain_arrays")
