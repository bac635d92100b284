"""Guest harness baked into the sandbox runtime (CPython 3.14 for WASI, built by componentize-py).

The host instantiates a fresh copy of the pre-initialized interpreter for every job and
calls `run` exactly once, so nothing done by one job's code can be seen by the next.

Everything imported at module level is snapshotted at build time: that is both the
start-up speed-up and the set of standard-library modules a job can import (modules not
imported here, and not importable from the frozen stdlib, raise ImportError).
"""

import builtins
import gc
import json
import linecache
import sys
import traceback
import types

# Standard-library modules that generated solutions and their tests commonly use.
# Importing them here puts them in the pre-initialized snapshot.
import abc  # noqa: F401
import argparse  # noqa: F401
import array  # noqa: F401
import ast  # noqa: F401
import base64  # noqa: F401
import bisect  # noqa: F401
import calendar  # noqa: F401
import cmath  # noqa: F401
import codecs  # noqa: F401
import collections  # noqa: F401
import collections.abc  # noqa: F401
import contextlib  # noqa: F401
import contextvars  # noqa: F401
import copy  # noqa: F401
import copyreg  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import difflib  # noqa: F401
import doctest  # noqa: F401
import enum  # noqa: F401
import fnmatch  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import glob  # noqa: F401
import graphlib  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import html  # noqa: F401
import inspect  # noqa: F401
import io  # noqa: F401
import itertools  # noqa: F401
import keyword  # noqa: F401
import locale  # noqa: F401
import math  # noqa: F401
import numbers  # noqa: F401
import operator  # noqa: F401
import os  # noqa: F401
import pathlib  # noqa: F401
import pickle  # noqa: F401
import pprint  # noqa: F401
import queue  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import secrets  # noqa: F401
import shlex  # noqa: F401
import shutil  # noqa: F401
import sqlite3  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import tempfile  # noqa: F401
import textwrap  # noqa: F401
import time  # noqa: F401
import tokenize  # noqa: F401
import typing  # noqa: F401
import unicodedata  # noqa: F401
import unittest  # noqa: F401
import unittest.mock  # noqa: F401
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
import warnings  # noqa: F401
import weakref  # noqa: F401
import zlib  # noqa: F401

import wit_world

# Move everything created so far (the interpreter and the modules above) into the
# permanent generation: the collector never scans it, so a job's collections neither
# spend time on it nor write to (and so copy) the snapshot's pages.
gc.freeze()

# Bound before any job runs, so a job that monkeypatches these cannot forge its report.
_dumps = json.dumps
_extract_tb = traceback.extract_tb
_format_exception_only = traceback.format_exception_only
_ModuleType = types.ModuleType
_linecache = linecache
_stdout = sys.stdout
_stderr = sys.stderr
_TRACEBACK_FRAMES = 8


def _flush():
    for stream in (sys.stdout, sys.stderr, _stdout, _stderr):
        try:
            stream.flush()
        except BaseException:  # a job may have replaced or closed the stream
            pass


def _format_exception(exc, tb):
    """A native-looking traceback of at most `_TRACEBACK_FRAMES` frames.

    Built by hand rather than with `traceback.format_exception`, which on 3.13+ parses
    every frame's source with `ast` to place carets: that alone doubled the cost of a
    failing job.
    """
    frames = _extract_tb(tb) if tb is not None else []
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        if len(frames) > _TRACEBACK_FRAMES:
            lines.append(f"  [... {len(frames) - _TRACEBACK_FRAMES} earlier frames omitted ...]\n")
            frames = frames[-_TRACEBACK_FRAMES:]
        for frame in frames:
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n')
            source = frame.line
            if source:
                lines.append(f"    {source.strip()}\n")
    lines.extend(_format_exception_only(type(exc), exc))
    return "".join(lines)


def _exception_report(exc, tb):
    """The exception's type, message and formatted traceback (also echoed to stderr)."""
    text = _format_exception(exc, tb)
    try:
        _stderr.write(text)
    except BaseException:
        pass
    try:
        message = str(exc)
    except BaseException:
        message = "<unprintable exception>"
    return {"type": type(exc).__name__, "message": message, "traceback": text}


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, argv: list) -> str:
        sys.argv = ["main.py", *argv]
        report = {"status": "ok", "exit_code": 0}
        try:
            try:
                compiled = compile(code, "main.py", "exec")
            except (SyntaxError, ValueError) as exc:
                report = {"status": "syntax", "exit_code": 1, "exception": _exception_report(exc, None)}
                return _dumps(report)
            # Register the source so tracebacks show the failing line's text.
            _linecache.cache["main.py"] = (len(code), None, code.splitlines(True), "main.py")
            main = _ModuleType("__main__")
            main.__builtins__ = builtins
            sys.modules["__main__"] = main
            exec(compiled, main.__dict__)
        except SystemExit as exc:
            code = exc.code
            if code is None:
                exit_code = 0
            elif isinstance(code, int):
                exit_code = code & 0xFF
            else:
                exit_code = 1
                try:
                    _stderr.write(str(code) + "\n")
                except BaseException:
                    pass
            if exit_code != 0:
                report = {"status": "exit", "exit_code": exit_code}
        except BaseException as exc:
            # Drop the harness frame so the traceback starts in the job's code.
            tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
            report = {"status": "exception", "exit_code": 1, "exception": _exception_report(exc, tb)}
        finally:
            _flush()
        return _dumps(report)
