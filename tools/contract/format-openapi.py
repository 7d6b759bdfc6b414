#!/usr/bin/env python3
"""Rewrites the OpenAPI sources (openapi/*.json) in the layout they are kept in: 2-space
indent, anything that fits in 100 columns on one line.  Usage: format-openapi.py FILE...
"""
import json, sys
W = 100
def dump(v, level=0, col=0):
    one = json.dumps(v, ensure_ascii=False)
    if col + len(one) <= W or not isinstance(v, (dict, list)) or not v:
        return one
    pad = '  ' * (level + 1)
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            key = pad + json.dumps(k, ensure_ascii=False) + ': '
            items.append(key + dump(x, level + 1, len(key)))
        return '{\n' + ',\n'.join(items) + '\n' + '  ' * level + '}'
    items = [pad + dump(x, level + 1, len(pad)) for x in v]
    return '[\n' + ',\n'.join(items) + '\n' + '  ' * level + ']'
for p in sys.argv[1:]:
    d = json.load(open(p))
    out = dump(d) + '\n'
    assert json.loads(out) == d
    open(p, 'w').write(out)
