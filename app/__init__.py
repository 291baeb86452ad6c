"""The handheld UI (Flet): a view and a view model per screen over local_db's command API.

Views render and forward; rules live in domain/. The screens arrive with the handheld-app work.
"""
