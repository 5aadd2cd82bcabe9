"""Long-horizon differential-diagnosis consultations over hidden case cards (doctor, patient, examiner, director)."""
