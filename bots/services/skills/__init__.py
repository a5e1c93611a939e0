"""Digital skills ("giáo dục số"): short courses, quizzes and signed certificates for villagers, and the
community digital technology team's desk (role `tutor`)."""
