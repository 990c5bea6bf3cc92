"""Explorers: interactive ipywidgets views that redraw from precomputed maps.

================  ============================================================================
``base``          :class:`Explorer`, the one API: ``set(**controls)``, ``.status``, ``.figure``,
                  ``.last_draw_s``, ``add_photo``, ``inputs(photo)`` (each explorer's
                  ``...Inputs``, precomputed once per photo); PNG rendering; the status line
                  after the picture
``picker``        :class:`PhotoPicker`: photos computed once each, a dropdown and an upload button
                  (ipywidgets 7 and 8)
``attention``     notebook 04: layer x head x query over a photo (blitting, JPEG frames)
``rollout``       notebook 05: head fusion x discard x layers x class (numpy rollout per move)
``dino``          notebook 07: map type x mass threshold x head (RGBA layers precomputed)
``faithfulness``  notebook 08: method x deletion/insertion x step (curves precomputed, blitting)
================  ============================================================================
"""
