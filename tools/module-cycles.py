#!/usr/bin/env python3
"""Import cycles between modules, from cargo-modules' graph (see README.md, Layout):

    nice -n 19 cargo modules dependencies --package entente --lib --no-externs --no-sysroot \
        --no-fns --no-traits --no-types > /tmp/cyc.dot
    python3 tools/module-cycles.py /tmp/cyc.dot

Edges between a module and its own ancestors or descendants are ignored (`use super::`,
re-exports); prints the strongly connected components of the remaining "uses" graph.
"""
import re,sys
edges={}
nodes=set()
for l in open(sys.argv[1]):
    m=re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"',l)
    if m:
        a,b=m.groups()
        if a==b: continue
        # ignore uses between a module and its own ancestors/descendants (parent/child: `use super::*`, re-exports)
        if b.startswith(a+"::") or a.startswith(b+"::"): continue
        edges.setdefault(a,set()).add(b); nodes|={a,b}
# Tarjan SCC
idx={};low={};st=[];on=set();sccs=[];i=[0]
sys.setrecursionlimit(100000)
def sc(v):
    idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in edges.get(v,()):
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        c=[]
        while True:
            w=st.pop();on.discard(w);c.append(w)
            if w==v:break
        if len(c)>1: sccs.append(c)
for v in sorted(nodes):
    if v not in idx: sc(v)
print(len(nodes),"modules,",sum(len(e) for e in edges.values()),"use edges,",len(sccs),"cycles")
for c in sccs:
    print(sorted(c))
    # show edges within
    for a in sorted(c):
        for b in sorted(edges.get(a,())):
            if b in c: print("   ",a,"->",b)
