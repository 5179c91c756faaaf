"""Signatures: :mod:`purelib.signature`, re-exported under the engine's name."""

from purelib.signature import FieldSpec as FieldSpec
from purelib.signature import Signature as Signature
from purelib.signature import is_compatible as is_compatible
from purelib.signature import signature_of as signature_of
