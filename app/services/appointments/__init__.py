"""Appointments (网上预约): the slots an office publishes and the bookings on them, with reminders."""
