#!/usr/bin/env python3
"""Derive data/demo/amp.json from the official decoupage-administratif files.

Usage: python3 scripts/make-demo-data.py ../shared/data/decoupage-administratif > data/demo/amp.json
The source files are published by Etalab under the Licence Ouverte 2.0; so is this extract.
"""
import json, sys, os
src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/decoupage-administratif"
communes = {c["code"]: c for c in json.load(open(os.path.join(src, "communes.json"))) if c.get("type") == "commune-actuelle"}
epci = next(e for e in json.load(open(os.path.join(src, "epci.json"))) if e["code"] == "200054807")
out = {
    "source": "@etalab/decoupage-administratif 6.0.0 (communes.json, epci.json); INSEE data, Licence Ouverte 2.0",
    "intercommunality": {k: epci[k] for k in ("code", "nom", "type", "modeFinancement", "populationMunicipale")},
    "communes": [],
}
for m in sorted(epci["membres"], key=lambda m: m["code"]):
    c = communes[m["code"]]
    out["communes"].append({
        "code": c["code"], "nom": c["nom"], "departement": c["departement"], "region": c.get("region"),
        "siren": c.get("siren"), "population": c.get("population"),
        "populationMunicipaleEpci": m.get("populationMunicipale"),
    })
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
print()
