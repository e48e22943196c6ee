"""A local stand-in for Apple's fraud-metric endpoint, speaking its protocol over real HTTP.

It checks the ES256 bearer JWT (``kid``, ``iss``, ``iat`` within an hour) against the DeviceCheck public key it
was given, verifies the posted Base64 receipt under the emulated CA's roots, and answers like Apple: 200 with a
new Base64 receipt carrying a risk metric, 304 before the receipt's "Not Before", 400 for a bad receipt, 401
for bad credentials. ``force_status`` and ``delay`` simulate outages.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from app_integrity._ecdsa import public_point
from app_integrity.apple.app import AppleApp
from app_integrity.apple.receipt import parse_receipt, receipt_app_id, receipt_certificate, verify_receipt
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.apple import EmulatedAppleCA

PATH = "/v1/attestationData"


class FakeFraudMetricServer:
    """``with FakeFraudMetricServer(ca=..., team_id=..., key_id=..., public_key=...) as server: server.endpoint``"""

    def __init__(
        self,
        *,
        ca: EmulatedAppleCA,
        team_id: str,
        key_id: str,
        public_key: ec.EllipticCurvePublicKey,
        risk_metric: int = 1,
    ) -> None:
        self.ca = ca
        self.team_id = team_id
        self.key_id = key_id
        self._verifier = ECKey.import_key(public_key)
        self.risk_metric = risk_metric
        self.force_status: int | None = None
        self.delay = 0.0
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def __enter__(self) -> FakeFraudMetricServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return False
        token_text = header.removeprefix("Bearer ").strip()
        try:
            token = jwt.decode(token_text, self._verifier, algorithms=["ES256"])
        except (JoseError, ValueError):
            return False
        issued_at = token.claims.get("iat")
        return (
            token.header.get("kid") == self.key_id
            and token.claims.get("iss") == self.team_id
            and isinstance(issued_at, int)
            and abs(time.time() - issued_at) < 3600
        )

    def answer(self, authorization: str | None, body: bytes) -> tuple[int, bytes]:
        """The status and body Apple would send for this request."""
        self.requests += 1
        if self.delay:
            time.sleep(self.delay)
        if self.force_status is not None:
            return self.force_status, b""
        if not self._authorised(authorization):
            return 401, b"Unauthorized"
        try:
            receipt = base64.b64decode(body.strip(), validate=True)
            parsed = parse_receipt(receipt)
            team_id, _, bundle_id = receipt_app_id(parsed).partition(".")
            app = AppleApp(team_id=team_id, bundle_id=bundle_id, allow_development=True)
            current = verify_receipt(
                receipt,
                app=app,
                public_key=_certificate_point(receipt_certificate(parsed)),
                trust_roots=self.ca.trust_roots,
            )
        except (AppIntegrityError, binascii.Error, ValueError):
            return 400, b"Bad Request"
        now = datetime.now(UTC)
        if current.not_before is not None and now < current.not_before:
            return 304, b""
        return 200, base64.b64encode(self.ca.refresh_receipt(receipt, now=now, risk_metric=self.risk_metric))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != PATH:
                    self._send(404, b"")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                status, body = server.answer(self.headers.get("Authorization"), self.rfile.read(min(length, 65536)))
                self._send(status, body)

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout test): nothing to answer.
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


def _certificate_point(der: bytes) -> bytes:
    key = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the attested certificate does not hold an EC key")
    return public_point(key)
