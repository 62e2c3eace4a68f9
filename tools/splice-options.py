#!/usr/bin/python3
"""Put a freshly printed option table between the OPTIONS markers of a doc.

usage: splice-options.py DOC TABLE  (used by `make docs`)"""
import sys

BEGIN = "<!-- BEGIN OPTIONS:"
END = "<!-- END OPTIONS -->"

doc_path, table_path = sys.argv[1], sys.argv[2]
doc = open(doc_path, encoding="utf-8").read()
table = open(table_path, encoding="utf-8").read()
b = doc.index(BEGIN)
b = doc.index("\n", b) + 1
e = doc.index(END)
open(doc_path, "w", encoding="utf-8").write(doc[:b] + table + doc[e:])
