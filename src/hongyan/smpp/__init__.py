"""hongyan's own asyncio SMPP 3.4 layer (see docs/decisions/0001-own-smpp-layer.md).

``SmppClient`` is the ESME channel; ``SmppServer`` the SMSC base the simulator builds on; ``pdu``, ``encoding``
and ``receipts`` are the codec pieces both use.
"""

from hongyan.smpp.client import DeliverEvent, MoMessage, SmppClient
from hongyan.smpp.constants import THROTTLING_STATUSES, is_permanent, status_name
from hongyan.smpp.encoding import SplitMessage, count_parts, split_text
from hongyan.smpp.errors import BindError, ChannelDown, Congested, RequestTimeout, SmppError, SubmitError
from hongyan.smpp.pdu import PduError
from hongyan.smpp.receipts import Receipt, build_receipt_text, parse_receipt_text
from hongyan.smpp.server import BindRequest, SmppServer
from hongyan.smpp.session import SmppSession

__all__ = [
    "THROTTLING_STATUSES",
    "BindError",
    "BindRequest",
    "ChannelDown",
    "Congested",
    "DeliverEvent",
    "MoMessage",
    "PduError",
    "Receipt",
    "RequestTimeout",
    "SmppClient",
    "SmppError",
    "SmppServer",
    "SmppSession",
    "SplitMessage",
    "SubmitError",
    "build_receipt_text",
    "count_parts",
    "is_permanent",
    "parse_receipt_text",
    "split_text",
    "status_name",
]
