"""Eponyms and renamed diseases: the old or eponymous name → the current descriptive one.

Exam questions, textbooks and case reports of different decades name one disease differently ("Wegener's
granulomatosis" is "granulomatosis with polyangiitis", "Henoch-Schönlein purpura" is "IgA vasculitis"). Both
names are read as the current one, by the diagnosis matcher (merged into `lexical.ABBREVIATIONS`) and by the
answer matcher (applied before its alias table, so the expansion is expanded like any other text). Keys are
written as `lexical._basic` leaves text: lower case, no possessive, no punctuation, accents folded.

General medical vocabulary, not fitted to any evaluation item. Two rules keep it safe: a name that means two
things stays out ("de Quervain" alone: thyroiditis or tenosynovitis; "von Recklinghausen" is keyed with its
disease), and minimal pairs of names are both listed so neither is read as the other (Berger / Buerger).
Short forms that are also ordinary words or other things ("HSP": heat shock protein) are whole-answer only
(schemas/matching/aliases.py).
"""

from __future__ import annotations

EPONYMS: dict[str, str] = {
    # vasculitides
    "henoch schonlein purpura": "iga vasculitis",
    "henoch schonlein vasculitis": "iga vasculitis",
    "henoch schonlein disease": "iga vasculitis",
    "henoch schonlein": "iga vasculitis",
    "anaphylactoid purpura": "iga vasculitis",
    "wegener granulomatosis": "granulomatosis with polyangiitis",
    "wegener disease": "granulomatosis with polyangiitis",
    "gpa": "granulomatosis with polyangiitis",
    "churg strauss syndrome": "eosinophilic granulomatosis with polyangiitis",
    "churg strauss vasculitis": "eosinophilic granulomatosis with polyangiitis",
    "churg strauss": "eosinophilic granulomatosis with polyangiitis",
    "egpa": "eosinophilic granulomatosis with polyangiitis",
    "temporal arteritis": "giant cell arteritis",
    "cranial arteritis": "giant cell arteritis",
    "horton disease": "giant cell arteritis",
    "buerger disease": "thromboangiitis obliterans",
    "takayasu disease": "takayasu arteritis",
    "kawasaki syndrome": "kawasaki disease",
    "mucocutaneous lymph node syndrome": "kawasaki disease",
    # kidney, joints, neuromuscular
    "berger disease": "iga nephropathy",
    "reiter syndrome": "reactive arthritis",
    "reiter disease": "reactive arthritis",
    "reiter arthritis": "reactive arthritis",
    "lou gehrig disease": "amyotrophic lateral sclerosis",
    "marie strumpell disease": "ankylosing spondylitis",
    "bechterew disease": "ankylosing spondylitis",
    "pseudogout": "calcium pyrophosphate deposition disease",
    "cppd": "calcium pyrophosphate deposition disease",
    "pott disease": "spinal tuberculosis",
    "tuberculous spondylitis": "spinal tuberculosis",
    "paget disease of bone": "osteitis deformans",
    "von recklinghausen disease of bone": "osteitis fibrosa cystica",
    "von recklinghausen disease": "neurofibromatosis type 1",
    "erb palsy": "upper brachial plexus palsy",
    "erb duchenne palsy": "upper brachial plexus palsy",
    "klumpke palsy": "lower brachial plexus palsy",
    "bell palsy": "idiopathic facial nerve palsy",
    "goodpasture syndrome": "anti glomerular basement membrane disease",
    "goodpasture disease": "anti glomerular basement membrane disease",
    "kimmelstiel wilson disease": "nodular diabetic glomerulosclerosis",
    # endocrine
    "conn syndrome": "primary aldosteronism",
    "primary hyperaldosteronism": "primary aldosteronism",
    "addison disease": "primary adrenal insufficiency",
    "hashimoto thyroiditis": "chronic lymphocytic thyroiditis",
    "hashimoto disease": "chronic lymphocytic thyroiditis",
    "de quervain thyroiditis": "subacute granulomatous thyroiditis",
    "sheehan syndrome": "postpartum pituitary necrosis",
    "stein leventhal syndrome": "polycystic ovary syndrome",
    # blood, infection, other
    "christmas disease": "hemophilia b",
    "kahler disease": "multiple myeloma",
    "osler weber rendu syndrome": "hereditary hemorrhagic telangiectasia",
    "osler weber rendu disease": "hereditary hemorrhagic telangiectasia",
    "idiopathic thrombocytopenic purpura": "immune thrombocytopenia",
    "hansen disease": "leprosy",
    "pneumocystis carinii pneumonia": "pneumocystis jirovecii pneumonia",
    "paterson kelly syndrome": "plummer vinson syndrome",
    "down syndrome": "trisomy 21",
    "edwards syndrome": "trisomy 18",
    "patau syndrome": "trisomy 13",
    "hyaline membrane disease": "neonatal respiratory distress syndrome",
    "pseudotumor cerebri": "idiopathic intracranial hypertension",
    "benign intracranial hypertension": "idiopathic intracranial hypertension",
    "cot death": "sudden infant death syndrome",
    "crib death": "sudden infant death syndrome",
    "sids": "sudden infant death syndrome",
    # renamed psychiatric diagnoses (DSM-5)
    "dysthymia": "persistent depressive disorder",
    "dysthymic disorder": "persistent depressive disorder",
    "manic depression": "bipolar disorder",
    "manic depressive illness": "bipolar disorder",
    "multiple personality disorder": "dissociative identity disorder",
    "mental retardation": "intellectual disability",
}
