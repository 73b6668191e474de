"""The Qt side of the studio: the main window, panels, dialogs and the engine bridge."""
