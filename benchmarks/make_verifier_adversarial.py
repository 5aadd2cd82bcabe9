"""Generate benchmarks/data/verifier_adversarial.jsonl: labelled (candidate, reference) pairs built to break the
answer verifier, one failure class per template family, positives and negatives in every class.

Deterministic (seeded `random.Random`, sorted vocabularies): running it twice writes the same file. Each line is
{"candidate", "reference", "aliases", "label", "class", "id"}; `label` is true when the candidate names the
reference's answer. Vocabularies are written here (diseases, drugs, anatomy, findings, tests); typos come from
deterministic edits (a letter dropped, doubled, two letters swapped, a vowel changed), and a typo that happens
to be an English word (per `wordfreq`, which the generator needs) is not used: it would be a different word, not
a misspelling. Nothing is copied from a public benchmark.

    python benchmarks/make_verifier_adversarial.py [--out benchmarks/data/verifier_adversarial.jsonl] [--seed 7]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Pair = tuple[str, str, bool]


def drop_rt(text: str) -> str:
    """The MedMCQA-style artefact: every "rt" dropped from words that have one after their first letter."""
    return " ".join(w.replace("rt", "") if "rt" in w[1:] else w for w in text.split())


def _join(*parts: list[str]) -> list[str]:
    return sorted(x for p in parts for x in p)


ANALYTES = _join(
    ["calcium", "phosphate", "potassium", "sodium", "parathyroid hormone", "TSH", "free T4", "ferritin"],
    ["transferrin saturation", "bilirubin", "albumin", "platelet count", "haemoglobin", "renin"],
    ["aldosterone", "cortisol", "ACTH", "LH", "FSH", "prolactin", "glucose", "insulin", "serum iron"],
    ["total iron binding capacity", "reticulocyte count", "urine osmolality", "serum osmolality", "ESR"],
    ["chloride", "bicarbonate", "magnesium", "uric acid", "creatinine", "fibrinogen", "lactate"],
)
UP_DOWN = [("increased", "decreased"), ("high", "low"), ("elevated", "reduced"), ("raised", "low")]
UP_SYN = {"increased": ["elevated", "raised"], "decreased": ["reduced"], "elevated": ["increased"]}
UP_SYN |= {"reduced": ["decreased"], "raised": ["increased"], "high": ["high"], "low": ["low"]}
HYPER_HYPO = ["kalemia", "natremia", "calcemia", "phosphatemia", "magnesemia", "glycemia", "chloremia"]
SIDED = _join(
    ["pneumothorax", "pleural effusion", "inguinal hernia", "ureteric calculus", "femoral neck fracture"],
    ["hydronephrosis", "optic neuritis", "vocal cord palsy", "facial nerve palsy", "breast abscess"],
    [
        "ovarian torsion",
        "testicular torsion",
        "hemiparesis",
        "lower lobe pneumonia",
        "renal artery stenosis",
    ],
    ["carotid artery stenosis", "kidney stone", "ulnar nerve palsy", "radial head fracture", "hip effusion"],
)
FINDINGS = _join(
    ["pleural effusion", "pericardial effusion", "ascites", "papilledema", "lymphadenopathy", "fever"],
    ["splenomegaly", "hepatomegaly", "proteinuria", "hematuria", "pedal edema", "neck stiffness"],
    ["murmur", "rash", "cyanosis", "jaundice", "pneumoperitoneum", "free fluid", "clubbing", "tremor"],
)
DISEASES = _join(
    ["appendicitis", "acute pancreatitis", "community acquired pneumonia", "pulmonary embolism"],
    ["myocardial infarction", "heart failure", "ulcerative colitis", "Crohn disease", "sarcoidosis"],
    ["multiple sclerosis", "migraine", "cluster headache", "tension headache", "nephrolithiasis"],
    ["cholecystitis", "diverticulitis", "rheumatoid arthritis", "osteoarthritis", "gout", "psoriasis"],
    ["iron deficiency anaemia", "pernicious anaemia", "hypothyroidism", "hyperthyroidism", "asthma"],
    ["bronchiectasis", "tuberculosis", "meningitis", "encephalitis", "cellulitis", "osteomyelitis"],
    ["endometriosis", "ectopic pregnancy", "preeclampsia", "placenta previa", "placental abruption"],
    ["aortic dissection", "atrial fibrillation", "pericarditis", "endocarditis", "sickle cell disease"],
)
NUMBERED = ["type 2 diabetes mellitus", "type 1 diabetes mellitus", "stage 3 chronic kidney disease"]
NUMBERED += ["grade 2 hypertension", "cranial nerve 6 palsy", "type 4 renal tubular acidosis"]
QUALIFIER_PAIRS = [
    ("acute", "chronic", ["pancreatitis", "kidney injury", "cholecystitis", "otitis media", "hepatitis B"]),
    ("benign", "malignant", ["hypertension", "pleural effusion", "mesothelioma", "hyperthermia"]),
    ("primary", "secondary", ["hyperparathyroidism", "amenorrhea", "syphilis", "adrenal insufficiency"]),
    ("type 1", "type 2", ["diabetes mellitus", "respiratory failure", "hypersensitivity", "heart block"]),
    ("upper", "lower", ["GI bleeding", "motor neuron lesion", "limb ischemia", "airway obstruction"]),
]
DRUG_PAIRS = [
    ("hydroxyzine", "hydralazine"), ("prednisone", "prednisolone"), ("quinine", "quinidine"),
    ("vinblastine", "vincristine"), ("carbamazepine", "oxcarbazepine"), ("amiodarone", "amlodipine"),
    ("metoprolol", "metolazone"), ("chlorpromazine", "chlorpropamide"), ("hydrocodone", "hydrocortisone"),
    ("dopamine", "dobutamine"), ("ephedrine", "epinephrine"), ("glipizide", "glyburide"),
    ("lamotrigine", "lamivudine"), ("tramadol", "trazodone"), ("risperidone", "ropinirole"),
    ("cefazolin", "ceftriaxone"), ("nifedipine", "nicardipine"), ("losartan", "valsartan"),
    ("sulfasalazine", "sulfadiazine"), ("clonidine", "clozapine"), ("celecoxib", "citalopram"),
    ("fluoxetine", "paroxetine"), ("methimazole", "metolazone"), ("acetazolamide", "acetohexamide"),
    ("azathioprine", "azithromycin"), ("dexamethasone", "dexmedetomidine"), ("morphine", "hydromorphone"),
    ("oxycodone", "oxycontin"), ("nitroglycerin", "nitroprusside"), ("labetalol", "lamotrigine"),
]  # fmt: skip
SALTS = {"metformin": "metformin hydrochloride", "amlodipine": "amlodipine besylate"}
SALTS |= {"metoprolol": "metoprolol succinate", "sertraline": "sertraline hydrochloride"}
UK_US = [("paracetamol", "acetaminophen"), ("salbutamol", "albuterol"), ("adrenaline", "epinephrine")]
UK_US += [("frusemide", "furosemide"), ("lignocaine", "lidocaine"), ("pethidine", "meperidine")]
EPONYM_PAIRS = [
    ("Wegener's granulomatosis", "granulomatosis with polyangiitis"),
    ("Henoch-Schönlein purpura", "IgA vasculitis"), ("Henoch-Schonlein vasculitis", "IgA vasculitis"),
    ("Churg-Strauss syndrome", "eosinophilic granulomatosis with polyangiitis"),
    ("Reiter syndrome", "reactive arthritis"), ("Lou Gehrig's disease", "amyotrophic lateral sclerosis"),
    ("Berger disease", "IgA nephropathy"), ("Buerger disease", "thromboangiitis obliterans"),
    ("Conn syndrome", "primary aldosteronism"), ("Addison's disease", "primary adrenal insufficiency"),
    ("temporal arteritis", "giant cell arteritis"), ("Hashimoto thyroiditis", "chronic lymphocytic thyroiditis"),
    ("Pott disease", "spinal tuberculosis"), ("Hansen disease", "leprosy"),
    ("Paget disease of bone", "osteitis deformans"), ("Christmas disease", "haemophilia B"),
    ("Osler-Weber-Rendu syndrome", "hereditary haemorrhagic telangiectasia"),
    ("Stein-Leventhal syndrome", "polycystic ovary syndrome"), ("Kahler disease", "multiple myeloma"),
    ("Marie-Strümpell disease", "ankylosing spondylitis"), ("Down syndrome", "trisomy 21"),
    ("Edwards syndrome", "trisomy 18"), ("Patau syndrome", "trisomy 13"), ("dysthymia", "persistent depressive disorder"),
    ("pseudogout", "calcium pyrophosphate deposition disease"), ("Goodpasture syndrome", "anti-GBM disease"),
]  # fmt: skip
ABBREV = [
    ("MI", "myocardial infarction"), ("COPD", "chronic obstructive pulmonary disease"),
    ("DVT", "deep vein thrombosis"), ("PE", "pulmonary embolism"), ("UTI", "urinary tract infection"),
    ("DKA", "diabetic ketoacidosis"), ("AF", "atrial fibrillation"), ("GERD", "gastro-oesophageal reflux disease"),
    ("SLE", "systemic lupus erythematosus"), ("RA", "rheumatoid arthritis"), ("AKI", "acute kidney injury"),
    ("CKD", "chronic kidney disease"), ("TIA", "transient ischaemic attack"), ("SAH", "subarachnoid haemorrhage"),
    ("ARDS", "acute respiratory distress syndrome"), ("BPH", "benign prostatic hyperplasia"),
    ("MS", "multiple sclerosis"), ("ITP", "immune thrombocytopenia"), ("DIC", "disseminated intravascular coagulation"),
    ("PCOS", "polycystic ovary syndrome"), ("CT", "computed tomography"), ("MRI", "magnetic resonance imaging"),
    ("ECG", "electrocardiogram"), ("CXR", "chest X-ray"), ("ABG", "arterial blood gas"), ("CBC", "complete blood count"),
    ("ESR", "erythrocyte sedimentation rate"), ("CRP", "C-reactive protein"), ("TSH", "thyroid stimulating hormone"),
    ("LP", "lumbar puncture"), ("ERCP", "endoscopic retrograde cholangiopancreatography"), ("T1DM", "type 1 diabetes mellitus"),
    ("T2DM", "type 2 diabetes mellitus"), ("NSTEMI", "non-ST elevation myocardial infarction"),
    ("AML", "acute myeloid leukaemia"), ("CLL", "chronic lymphocytic leukaemia"), ("ASD", "atrial septal defect"),
    ("VSD", "ventricular septal defect"), ("HBV", "hepatitis B virus"), ("HCV", "hepatitis C virus"),
]  # fmt: skip
MINIMAL_PAIRS = [
    ("nephrotic syndrome", "nephritic syndrome"), ("ectropion", "entropion"), ("exotropia", "esotropia"),
    ("abduction", "adduction"), ("dysphagia", "dysphasia"), ("peroneal nerve injury", "perineal nerve injury"),
    ("ethanol poisoning", "methanol poisoning"), ("rubella", "rubeola"), ("nitrate", "nitrite"),
    ("sulfate", "sulfite"), ("cysteine", "cystine"), ("retinol", "retinal"), ("radial nerve", "radical nerve"),
    ("ileum", "ilium"), ("humeral", "humoral"), ("hyperkalemia", "hypokalemia"), ("hypernatremia", "hyponatremia"),
    ("prednisone", "prednisolone"), ("hypertension", "hypotension"), ("hyperthyroidism", "hypothyroidism"),
    ("malleus", "malleolus"), ("aphagia", "aphasia"), ("dysarthria", "dysarthrosis"), ("pyelitis", "pyelonephritis"),
    ("hypercalcemia", "hypocalcemia"), ("anuria", "dysuria"), ("Berger disease", "Buerger disease"),
    ("arteritis", "arthritis"), ("vesical", "vesicle"), ("palpation", "palpitation"), ("prostate", "prostrate"),
]  # fmt: skip
TYPO_TERMS = _join(
    ["laparotomy", "appendicectomy", "cholecystectomy", "thyroidectomy", "pneumonia", "appendicitis"],
    ["cholecystitis", "pancreatitis", "meningitis", "endocarditis", "pyelonephritis", "osteomyelitis"],
    ["hypothyroidism", "sarcoidosis", "tuberculosis", "bronchiectasis", "endometriosis", "diverticulitis"],
    [
        "schizophrenia",
        "hydronephrosis",
        "thrombocytopenia",
        "hemochromatosis",
        "amyloidosis",
        "pericarditis",
    ],
    ["metformin", "amoxicillin", "ciprofloxacin", "vancomycin", "furosemide", "spironolactone", "warfarin"],
    [
        "heparin",
        "allopurinol",
        "colchicine",
        "methotrexate",
        "carbamazepine",
        "levothyroxine",
        "haloperidol",
    ],
    ["bronchoscopy", "colonoscopy", "echocardiogram", "angiography", "mammography", "thoracentesis"],
    ["paracentesis", "tracheostomy", "splenectomy", "nephrectomy", "mastectomy", "hysterectomy"],
)
RT_TERMS = [
    "heart failure", "heart block", "coronary artery", "renal artery", "pulmonary artery", "femoral artery",
    "carotid artery", "hepatic artery", "pancreaticoduodenal artery", "superior mesenteric artery",
    "portal hypertension", "pulmonary hypertension", "essential hypertension", "aortic stenosis",
    "aortic regurgitation", "left ventricular hypertrophy", "pertussis", "tertiary syphilis", "vertigo",
    "portal vein thrombosis", "insert a chest drain", "start intravenous antibiotics", "sertraline",
    "congenital heart disease", "cortisol deficiency", "hypertrophic cardiomyopathy", "arterial blood gas",
]  # fmt: skip
TIME_WORDS = ["day", "week", "month", "year"]


def _typos(word: str, rng: random.Random) -> list[str]:
    """Deterministic single-edit misspellings of `word` (never touching its first letter)."""
    out = []
    i = rng.randrange(2, len(word) - 1)
    out.append(word[:i] + word[i + 1 :])  # a letter dropped
    out.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])  # two letters swapped
    out.append(word[:i] + word[i] + word[i:])  # a letter doubled
    vowels = [j for j in range(1, len(word)) if word[j] in "aeiou"]
    j = rng.choice(vowels)
    out.append(word[:j] + rng.choice([v for v in "aeiou" if v != word[j]]) + word[j + 1 :])
    return [t for t in dict.fromkeys(out) if t != word]


def direction(rng: random.Random) -> Iterator[Pair]:
    for a, b in itertools.combinations(ANALYTES, 2):
        if rng.random() > 0.25:
            continue
        up, down = rng.choice(UP_DOWN)
        yield f"{up} {a} and {down} {b}", f"{down} {a} and {up} {b}", False
        yield f"{a} {up}, {b} {down}", f"{down} {a} with {up} {b}", False
        yield f"{up} {a} and {down} {b}", f"{down} {b} and {up} {a}", True
        yield (
            f"{a} {up}, {b} {down}",
            f"{rng.choice(UP_SYN[up])} {a} and {rng.choice(UP_SYN[down])} {b}",
            True,
        )
    for s1, s2 in itertools.permutations(HYPER_HYPO, 2):
        yield f"hyper{s1} and hypo{s2}", f"hypo{s1} and hyper{s2}", False
        yield f"hyper{s1} and hypo{s2}", f"hypo{s2} with hyper{s1}", True
    for x, y in itertools.combinations(SIDED[:10], 2):
        yield f"left {x} and right {y}", f"right {x} and left {y}", False
        yield f"left {x} and right {y}", f"right {y}, left {x}", True


def negation(rng: random.Random) -> Iterator[Pair]:
    for f in FINDINGS:
        yield f"no {f}", f, False
        yield f"{f} absent", f, False
        yield f"without {f}", f, False
        yield f, f"no {f}", False
        yield f"not {f}", f"{f}", False
        yield f"No {f}", f"no {f}", True
        yield f"{f} absent", f"no {f}", True
        yield f"No evidence of {f}", f"no {f}", True
        yield f"{f}: present", f, True
        g = rng.choice([x for x in FINDINGS if x != f])
        yield f"{f}, no {g}", f"{f} without {g}", True
        yield f"no {f} and {g}", f"{f} and no {g}", False


def laterality(rng: random.Random) -> Iterator[Pair]:
    for x in SIDED:
        yield f"left {x}", f"right {x}", False
        yield f"Right {x}", f"left {x}", False
        yield f"bilateral {x}", f"left {x}", False
        yield f"{x}, right", f"left {x}", False
        yield f"left {x}", f"Left {x}", True
        yield f"{x}, left", f"left {x}", True
        yield f"left-sided {x}", f"left {x}", True
        yield f"bilateral {x}", f"bilateral {x}", True


def numeric(rng: random.Random) -> Iterator[Pair]:
    for v in [0.5, 1, 2, 2.5, 5, 10, 20, 40, 80, 125, 250, 500]:
        mg = f"{v:g} mg"
        yield mg, f"{v * 1000:g} micrograms", True
        yield f"{v:g}mg", mg, True
        yield mg, f"{v * 10:g} mg", False
        yield f"{v / 10:g} mg", mg, False
        yield f"{v:g} mg/kg", mg, False
        yield f"{v:g}-{v * 2:g} mg", f"{v:g} to {v * 2:g} mg", True
        yield f"{v:g}-{v * 2:g} mg", f"{v * 2:g}-{v * 4:g} mg", False
        yield f"> {v:g} mmol/L", f"greater than {v:g} mmol/L", True
        yield f"> {v:g} mmol/L", f"< {v:g} mmol/L", False
        yield f"at least {v:g} mL/h", f"at most {v:g} mL/h", False
        yield f"{v:g} mL/h or more", f">= {v:g} mL/h", True
        yield f"{v:g} g", f"{v * 1000:g} mg", True
        yield f"{v:g} g", f"{v:g} mg", False
    for c in [36.0, 37.5, 38.0, 38.5, 39.0, 40.0]:
        yield f"{c:.1f} °C", f"{c * 9 / 5 + 32:.1f} °F", True
        yield f"{c:.1f} °C", f"{(c + 1) * 9 / 5 + 32:.1f} °F", False


def drugs(rng: random.Random) -> Iterator[Pair]:
    for a, b in DRUG_PAIRS:
        yield a, b, False
        yield b.capitalize(), a, False
        yield f"IV {a}", f"intravenous {b}", False
        yield a.upper(), a, True
        yield f"IV {b}", f"intravenous {b}", True
    for plain, salt in SALTS.items():
        yield salt, plain, True
        yield plain.capitalize(), salt, True
    for uk, us in UK_US:
        yield uk, us, True
        yield us.capitalize(), uk, True


def eponyms(rng: random.Random) -> Iterator[Pair]:
    moderns = [m for _, m in EPONYM_PAIRS]
    for old, modern in EPONYM_PAIRS:
        yield old, modern, True
        yield modern, old, True
        wrong = rng.choice([m for m in moderns if m != modern])
        yield old, wrong, False
        yield wrong, old, False


def plurals(rng: random.Random) -> Iterator[Pair]:
    nouns = [("renal cyst", "renal cysts"), ("kidney stone", "kidney stones"), ("gallstone", "gallstones")]
    nouns += [("renal calculus", "renal calculi"), ("pulmonary embolus", "pulmonary emboli")]
    nouns += [("colonic diverticulum", "colonic diverticula"), ("bone metastasis", "bone metastases")]
    nouns += [("esophageal varix", "esophageal varices"), ("nasal polyp", "nasal polyps")]
    nouns += [
        ("lung nodule", "lung nodules"),
        ("rib fracture", "rib fractures"),
        ("liver abscess", "liver abscesses"),
    ]
    nouns += [("lymph node", "lymph nodes"), ("ovarian cyst", "ovarian cysts"), ("bronchus", "bronchi")]
    for i, (one, many) in enumerate(nouns):
        yield many, one, True
        yield one, many, True
        other = nouns[(i + 1 + rng.randrange(len(nouns) - 1)) % len(nouns)]
        if other[0].split()[-1] != one.split()[-1]:
            yield other[1], one, False
            yield many, other[0], False


def abbreviations(rng: random.Random) -> Iterator[Pair]:
    fulls = [f for _, f in ABBREV]
    for short, full in ABBREV:
        yield short, full, True
        yield full, short, True
        yield short, rng.choice([f for f in fulls if f != full]), False
    confusable = [("AML", "ALL"), ("CLL", "CML"), ("ASD", "VSD"), ("T1DM", "T2DM"), ("NSTEMI", "STEMI")]
    confusable += [("HBV", "HCV"), ("MR", "AR"), ("MI", "PE"), ("CT", "MRI"), ("TIA", "SAH")]
    for a, b in confusable:
        yield a, b, False
        yield b, a, False


def hedges(rng: random.Random) -> Iterator[Pair]:
    for x in DISEASES:
        y = rng.choice([d for d in DISEASES if d != x])
        yield f"{x} or {y}", x, False
        yield f"either {y} or {x}", x, False
        yield f"{x} vs {y}", x, False
        yield f"{x} versus {y}", x, False
        yield f"{x} and/or {y}", x, False
        yield f"possibly {x}", x, False
        yield f"{x} unlikely", x, False
        yield f"{x} ruled out", x, False
        yield f"?{x}", x, False
        yield f"suspected {x}", x, False
        yield f"family history of {x}", x, False
        yield f"{x} excluded", x, False
        yield f"The answer is {x}", x, True
        yield f"Diagnosis: {x}", x, True
        yield f"The most likely diagnosis is {x} because of the history.", x, True
        yield f"The most likely diagnosis is {y} rather than {x}.", x, False


def misspellings(rng: random.Random, known: set[str]) -> Iterator[Pair]:
    others = TYPO_TERMS
    for term in TYPO_TERMS:
        for typo in _typos(term, rng):
            if typo in known:
                continue
            yield typo.capitalize(), term, True
            yield term, typo, True
            wrong = rng.choice([o for o in others if o != term and o[0] != term[0]])
            yield typo, wrong, False


def minimal_pairs(rng: random.Random, known: set[str]) -> Iterator[Pair]:
    for a, b in MINIMAL_PAIRS:
        yield a, b, False
        yield b.capitalize(), a, False
        yield f"{a}.", a, True
        yield b.upper(), b, True
        # the danger zone: a misspelling of one member, compared with the other member
        for x, y in ((a, b), (b, a)):
            word = max(x.split(), key=len)
            if len(word) < 6:
                continue
            for typo in _typos(word, rng):
                if typo not in known and typo not in y.split():
                    yield x.replace(word, typo), y, False


def dropped_rt(rng: random.Random) -> Iterator[Pair]:
    for term in RT_TERMS:
        broken = drop_rt(term)
        yield broken, term, True
        yield term, broken, True
        yield broken.capitalize(), term.capitalize(), True
        words = set(term.split())
        near = [t for t in RT_TERMS if t != term and set(t.split()) & words]
        yield broken, rng.choice(near or [t for t in RT_TERMS if t != term]), False
        yield rng.choice(near or [t for t in RT_TERMS if t != term]), broken, False


def side_abbreviations(rng: random.Random) -> Iterator[Pair]:
    for x in SIDED:
        yield f"Rt {x}", f"right {x}", True
        yield f"Lt. {x}", f"left {x}", True
        yield f"B/L {x}", f"bilateral {x}", True
        yield f"bilat {x}", f"bilateral {x}", True
        yield f"Rt {x}", f"left {x}", False
        yield f"Lt {x}", f"right {x}", False
        yield f"B/L {x}", f"left {x}", False
        yield "RT", f"right {x}", False
    yield "RT", "radiotherapy", True
    yield "Radiotherapy", "RT", True


def ages_durations(rng: random.Random) -> Iterator[Pair]:
    for dx in DISEASES + NUMBERED:
        n = rng.randrange(2, 90)
        other = rng.choice([d for d in DISEASES + NUMBERED if d != dx])
        yield f"{dx} in a {n}-year-old", dx, True
        yield f"{n}-year-old man with {dx}", dx, True
        yield f"{dx}, {rng.randrange(2, 12)}-week history", dx, True
        yield f"{dx} for {rng.randrange(2, 30)} days", dx, True
        yield f"{dx} in a {n}-year-old", other, False
        yield f"{other} for {rng.randrange(2, 30)} days", dx, False
    for drug in ["warfarin", "amoxicillin", "prednisolone", "doxycycline", "isoniazid", "metronidazole"]:
        a, b = rng.sample([3, 5, 6, 7, 10, 14, 21], 2)
        unit = rng.choice(["days", "weeks", "months"])
        yield f"{drug} for {a} {unit}", f"{drug} for {b} {unit}", False
        yield f"{drug} for {a} {unit}", f"{drug} for {a} {unit}", True
        yield f"{drug.capitalize()} for {a} {unit}", drug, True
    for n in [2, 3, 6, 9, 12, 18, 24]:
        yield f"{n} months", f"{n} months", True
        yield f"at {n} months of age", f"{n} months", True
        yield f"{n} months", f"{n + 3} months", False
        yield f"within {n} hours", f"within {n * 2} hours", False
        yield f"at {n} years of age", f"{n * 12} months", True
        yield f"at {n} years of age", f"at {n + 1} years", False


def paraphrase(rng: random.Random) -> Iterator[Pair]:
    for x in DISEASES:
        y = rng.choice([d for d in DISEASES if d != x and not set(d.split()) & set(x.split())])
        yield x, x, True
        yield x.upper(), x, True
        yield f"the {x}", x.capitalize(), True
        yield x.replace("anaemia", "anemia").replace("previa", "praevia"), x, True
        yield y, x, False
    for x in NUMBERED:
        yield x, x.replace("2", "II").replace("1", "I").replace("3", "III").replace("4", "IV"), True
    for q1, q2, heads in QUALIFIER_PAIRS:
        for h in heads:
            yield f"{q1} {h}", f"{q2} {h}", False
            yield f"{q2} {h}", f"{q1} {h}", False
            yield f"{h}, {q1}", f"{q1} {h}", True


def build(seed: int) -> list[dict[str, object]]:
    import wordfreq

    known = set(wordfreq.get_frequency_dict("en", "large"))
    rng = random.Random(seed)
    families = {
        "direction_reversal": direction(rng),
        "negation": negation(rng),
        "laterality": laterality(rng),
        "numeric_direction_range": numeric(rng),
        "near_miss_drug": drugs(rng),
        "eponym_renamed": eponyms(rng),
        "plural": plurals(rng),
        "abbreviation": abbreviations(rng),
        "hedge": hedges(rng),
        "misspelling": misspellings(rng, known),
        "minimal_pair": minimal_pairs(rng, known),
        "dropped_rt": dropped_rt(rng),
        "side_abbreviation": side_abbreviations(rng),
        "age_duration": ages_durations(rng),
        "exact_paraphrase": paraphrase(rng),
    }
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for cls, pairs in families.items():
        for cand, ref, label in pairs:
            if (cand, ref) in seen:
                continue
            seen.add((cand, ref))
            row = {"id": f"adv-{len(rows) + 1:05d}", "class": cls, "candidate": cand, "reference": ref}
            rows.append(row | {"aliases": [], "label": label})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "data" / "verifier_adversarial.jsonl")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = build(args.seed)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} pairs → {args.out}")


if __name__ == "__main__":
    main()
