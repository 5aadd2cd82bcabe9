"""Word lists the case gates read: placeholder words, clinical-register words, what a diagnosis name looks like.

They are general vocabulary, not fitted to any card: placeholders are the words a model echoes from a schema or
an instruction ("text", "medical term", "result"); clinical register is what a clinician writes and a patient
does not say ("dyspnoea", "bilateral", "denies"); a one-word disease name has a pathology suffix (-itis,
-osis, -oma, -aemia, ...) or is one of a few conditions that are their own name (asthma, gout, migraine, ...).
Everything is lower case and matched as whole words.
"""

from __future__ import annotations

#: words that carry no content of their own in a fact: schema and instruction echoes
PLACEHOLDERS = frozenset(
    "text texts lay wording term terms fact facts string example examples sample placeholder unknown tbd todo "  # noqa: SIM905
    "xxx lorem ipsum result results value values key item items description field fields information info "
    "details data etc say says said would words word plain first medical clinical statement opening patient "
    "patients name diagnosis differential exam test tests finding findings type location".split()
)

#: negations are content in a fact ("None.", "No allergies."), even though they are stopwords
NEGATIONS = frozenset({"no", "not", "none", "nil", "nothing", "never", "denies", "negative", "without"})

#: clinician's words: in a patient's own wording they mean the lay text was not written as lay text. Words a
#: patient may well use are left out ("tinnitus", "febrile convulsion", "an exacerbation of my COPD", "I'm a
#: patient person", "I write reports", "I play percussion"): third-person framing is caught by its phrases.
CLINICAL_REGISTER = frozenset(
    "dyspnea dyspnoea orthopnea orthopnoea photophobia phonophobia pruritus pruritic erythema "  # noqa: SIM905
    "erythematous hematuria haematuria hemoptysis haemoptysis hematemesis haematemesis melena melaena "
    "dysuria polyuria polydipsia nocturia tachycardia bradycardia syncope presyncope paresthesia "
    "paraesthesia paresthesias paraesthesias dysphagia odynophagia rhinorrhea rhinorrhoea epistaxis "
    "pyrexia afebrile bilateral unilateral ipsilateral contralateral proximal distal insidious "
    "exacerbated alleviated lymphadenopathy hepatomegaly splenomegaly hepatosplenomegaly edema oedema "
    "diaphoresis diaphoretic arthralgia arthralgias myalgia myalgias dyspareunia menorrhagia dysmenorrhea "
    "dysmenorrhoea amenorrhea amenorrhoea oliguria anuria hypotension hypotensive tachypneic tachypnoeic "
    "tachypnea tachypnoea cyanosis cyanotic jaundiced icteric icterus pallor emesis hyperemesis "
    "postprandial paroxysmal exertional pleuritic retrosternal epigastric periumbilical suprapubic "
    "hypogastric vesicular papular macular pustular maculopapular urticarial petechiae petechial purpura "
    "purpuric ecchymosis ecchymoses lesion lesions tenderness auscultation palpation ptosis diplopia "
    "anosmia dysarthria hemiparesis hemiplegia paraparesis pt denies presenting symptomatic asymptomatic "
    "etiology aetiology idiopathic comorbidities comorbidity sequelae".split()
)

#: a word ending so is a disease or a pathological state (appendicitis, stenosis, lymphoma, anaemia, ...)
DISEASE_SUFFIXES = (
    "itis", "osis", "oses", "oma", "omas", "emia", "aemia", "pathy", "plasia", "trophy", "algia", "iasis",
    "ism", "ectasis", "ectasia", "cele", "rrhea", "rrhoea", "rrhage", "uria", "penia", "cytosis", "philia",
    "sis", "xis", "ia", "iae", "itides", "oid", "ysm", "ysms", "ure", "ures", "ancy",
)  # fmt: skip

#: conditions whose name is one word without a pathology suffix (a lone "gout" or "rash" is a fact, and
#: "acute asthma" without its qualifier still names the disease)
DISEASE_WORDS = frozenset(
    "acne angina anxiety asthma bite burn cold colic croup cyst depression fever flu gout hernia herpes "  # noqa: SIM905
    "lice lupus mania measles migraine mole mumps palsy polyp rash shingles shock sprain stroke thrush "
    "tremor ulcer wart".split()
)

#: words that make an entry a sentence, not a name: pronouns, finite verbs, reporting words (hedges such as
#: "possible" or "likely" are not among them: "possible early sepsis" is a differential entry)
SENTENCE_WORDS = frozenset(
    "i you he she we they me my your his her our their them it's i'm i've he's she's they're patient "  # noqa: SIM905
    "patients is are was were am has have had says said say does do did will would should can could may "
    "might must include includes including presents presented reports reported complains "
    "suggests suggest because which who whose what when where".split()
)
