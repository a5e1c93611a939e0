"""Digital skills ("giáo dục số"): courses of short lessons and quizzes, progress, certificates."""
