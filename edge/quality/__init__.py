"""Video quality diagnosis (视频质量诊断): is each camera's picture fit for use?"""
